from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest

from distributie.compose.recipients import Recipient, read_recipients, recipient_key
from distributie.errors import MAX_LISTED_PROBLEMS, InputError, Problem

TESTDATA = Path(__file__).resolve().parent.parent / "testdata" / "recipients"
HEADER = "gemeente,aanhef,titel,voorletters,tussenvoegsel,achternaam,email,consultatiepunten"


def write_csv(tmp_path: Path, text: str, name: str = "lijst.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(InputError) as caught:
        read_recipients(path)
    return caught.value.problems


def only_problem(path: Path) -> Problem:
    problems = problems_of(path)
    assert len(problems) == 1, problems
    return problems[0]


def recipient(**fields: str) -> Recipient:
    gemeente = fields.setdefault("gemeente", "Baarn")
    email = fields.setdefault("email", "burgemeester@baarn.example")
    return Recipient(row=2, gemeente=gemeente, email=email, fields=fields, key="baarn")


def write_xlsx(tmp_path: Path, rows: list[list[object]]) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    workbook.create_sheet("Tweede blad").append(["niet", "gelezen"])
    path = tmp_path / "lijst.xlsx"
    workbook.save(path)
    return path


# --- reading the formats a secretariat exports ------------------------------------------------


def test_utf8_csv_with_commas_and_quoted_delimiters_is_read() -> None:
    result = read_recipients(TESTDATA / "utf8-comma.csv")

    assert [r.gemeente for r in result.recipients] == [
        "Amersfoort",
        "Súdwest-Fryslân",
        "Wijk bij Duurstede",
    ]
    assert result.recipients[2].fields["consultatiepunten"] == "Cyberveiligheid, mkb|Jongeren"
    assert [r.row for r in result.recipients] == [2, 3, 4]


def test_utf8_bom_csv_with_semicolons_is_read_without_bom_in_first_column() -> None:
    result = read_recipients(TESTDATA / "utf8-bom-semicolon.csv")

    assert result.columns[0] == "gemeente"
    assert [r.email for r in result.recipients] == [
        "burgemeester@de-bilt.example",
        "burgemeester@heuvelrug.example",
        "burgemeester@zeist.example",
    ]


def test_windows_1252_csv_with_semicolons_keeps_accented_letters() -> None:
    result = read_recipients(TESTDATA / "cp1252-semicolon.csv")

    assert [r.fields["achternaam"] for r in result.recipients] == [
        "Brouwér",
        "Voorbeëld",
        "Proefstra",
    ]
    assert result.recipients[1].fields["consultatiepunten"] == "Naïeve phishing|Café-overlast"


def test_tab_separated_csv_is_read(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "gemeente\temail\nBaarn\tburgemeester@baarn.example\n")

    assert read_recipients(path).recipients[0].email == "burgemeester@baarn.example"


def test_result_records_columns_in_file_order_and_sha256_of_the_bytes() -> None:
    path = TESTDATA / "utf8-comma.csv"

    result = read_recipients(path)

    assert result.columns == HEADER.split(",")
    assert result.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert result.path == path


def test_broken_rows_file_reports_every_problem_at_once() -> None:
    problems = problems_of(TESTDATA / "broken-rows.csv")

    assert [(p.row, p.column) for p in problems] == [
        (3, "email"),
        (5, "aanhef"),
        (6, "gemeente"),
        (7, "email"),
        (8, "gemeente"),
        (9, "email"),
    ]
    assert all(p.file == str(TESTDATA / "broken-rows.csv") for p in problems)


def test_header_names_match_whatever_the_case_and_spacing(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        " GEMEENTE ;E-Mail;  Email ;Consultatie   Punten\nBaarn;x;burgemeester@baarn.example;a|b\n",
    )

    result = read_recipients(path, required_columns=["Gemeente", "consultatie punten"])

    assert result.columns == ["gemeente", "e-mail", "email", "consultatie_punten"]
    assert result.recipients[0].fields["consultatie_punten"] == "a|b"


def test_values_are_stripped_of_surrounding_whitespace(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "gemeente,email\n  Baarn\u00a0 , burgemeester@baarn.example \n")

    only = read_recipients(path).recipients[0]

    assert (only.gemeente, only.email) == ("Baarn", "burgemeester@baarn.example")


def test_empty_rows_are_skipped_without_shifting_row_numbers(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "gemeente,email\n\nBaarn,burgemeester@baarn.example\n , \nBunnik,fout\n",
    )

    problem = only_problem(path)

    assert (problem.row, problem.column) == (5, "email")


def test_row_numbers_count_records_so_a_cell_with_newlines_is_one_row(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        'gemeente,email,consultatiepunten\nBaarn,burgemeester@baarn.example,"een\r\ntwee"\n'
        "Bunnik,fout,\n",
    )

    assert only_problem(path).row == 3


def test_formula_like_cells_are_kept_as_data(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "gemeente,email,opmerking,a,b\n"
        'Baarn,burgemeester@baarn.example,"=HYPERLINK(""x"")",+31 30 123,-5\n'
        "@Bunnik,burgemeester@bunnik.example,,,\n",
    )

    result = read_recipients(path)

    assert result.recipients[0].fields["opmerking"] == '=HYPERLINK("x")'
    assert result.recipients[0].fields["a"] == "+31 30 123"
    assert result.recipients[0].fields["b"] == "-5"
    assert result.recipients[1].gemeente == "@Bunnik"


# --- problems, each located by row, column and a reason ---------------------------------------


def test_bad_email_is_reported_with_row_column_and_value(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "gemeente,email\nBaarn,burgemeester@@baarn.example\n")

    problem = only_problem(path)

    assert (problem.row, problem.column, problem.value) == (
        2,
        "email",
        "burgemeester@@baarn.example",
    )
    assert "not a valid e-mail address" in problem.reason


def test_non_ascii_local_part_is_refused_because_servers_cannot_deliver_it(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "gemeente,email\nBaarn,burgemeestér@baarn.example\n")

    problem = only_problem(path)

    assert (problem.row, problem.column) == (2, "email")
    assert "most mail servers cannot deliver" in problem.reason


def test_idn_domain_is_stored_as_punycode() -> None:
    result = read_recipients(TESTDATA / "utf8-comma.csv")

    assert result.recipients[1].email == "burgemeester@xn--sdwest-frysln-teb26a.example"
    assert result.recipients[1].fields["email"] == "burgemeester@súdwest-fryslân.example"


def test_empty_email_is_reported(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "gemeente,email\nBaarn,\n")

    problem = only_problem(path)

    assert (problem.row, problem.column, problem.reason) == (2, "email", "email is empty")


def test_empty_gemeente_is_reported(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "gemeente,email\n,burgemeester@baarn.example\n")

    problem = only_problem(path)

    assert (problem.row, problem.column, problem.reason) == (2, "gemeente", "gemeente is empty")


def test_bad_aanhef_is_reported_naming_the_allowed_values(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "gemeente,aanhef,email\nBaarn,juffrouw,burgemeester@baarn.example\n")

    problem = only_problem(path)

    assert (problem.row, problem.column, problem.value) == (2, "aanhef", "juffrouw")
    assert "heer" in problem.reason
    assert "mevrouw" in problem.reason
    assert "empty" in problem.reason


@pytest.mark.parametrize(
    ("written", "normalised"),
    [
        ("heer", "heer"),
        ("De Heer", "heer"),
        ("dhr", "heer"),
        ("Dhr.", "heer"),
        ("de hr.", "heer"),
        ("Mevrouw", "mevrouw"),
        ("mevr", "mevrouw"),
        ("MEVR.", "mevrouw"),
        ("mw.", "mevrouw"),
        ("Mw", "mevrouw"),
        ("", ""),
    ],
)
def test_aanhef_variants_are_normalised(tmp_path: Path, written: str, normalised: str) -> None:
    path = write_csv(
        tmp_path, f"gemeente,aanhef,email\nBaarn,{written},burgemeester@baarn.example\n"
    )

    only = read_recipients(path).recipients[0]

    assert only.context()["aanhef"] == normalised
    assert only.fields["aanhef"] == written


def test_crlf_in_gemeente_is_refused_as_header_injection(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        'gemeente,email\n"Baarn\r\nBcc: iedereen@elders.example",burgemeester@baarn.example\n',
    )

    problem = only_problem(path)

    assert (problem.row, problem.column) == (2, "gemeente")
    assert "carriage return" in problem.reason
    assert "e-mail headers" in problem.reason


def test_control_character_in_achternaam_is_refused(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path, "gemeente,achternaam,email\nBaarn,Proef\x07stra,burgemeester@baarn.example\n"
    )

    problem = only_problem(path)

    assert (problem.row, problem.column) == (2, "achternaam")
    assert "U+0007" in problem.reason


def test_line_separator_in_titel_is_refused(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path, "gemeente,titel,email\nBaarn,drs.\u2028Bcc,burgemeester@baarn.example\n"
    )

    problem = only_problem(path)

    assert (problem.row, problem.column) == (2, "titel")
    assert "U+2028" in problem.reason


def test_newlines_in_other_columns_are_kept(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        'gemeente,email,consultatiepunten\nBaarn,burgemeester@baarn.example,"een\r\ntwee\tdrie"\n',
    )

    only = read_recipients(path).recipients[0]

    assert only.fields["consultatiepunten"] == "een\r\ntwee\tdrie"


def test_other_control_characters_in_other_columns_are_refused(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path, "gemeente,email,consultatiepunten\nBaarn,burgemeester@baarn.example,een\x0btwee\n"
    )

    problem = only_problem(path)

    assert (problem.row, problem.column) == (2, "consultatiepunten")
    assert "U+000B" in problem.reason


@pytest.mark.parametrize(
    ("column", "value", "named"),
    [
        ("gemeente", "Baar\u200bn", "U+200B ZERO WIDTH SPACE"),
        ("achternaam", "Proef\u202estra", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("tussenvoegsel", "van\u00ad", "U+00AD SOFT HYPHEN"),
        ("voorletters", "J.\ufdd0", "U+FDD0"),
        ("email", "burgemeester@baarn.example\u2060", "U+2060 WORD JOINER"),
    ],
)
def test_an_invisible_character_in_a_header_column_is_refused_with_row_and_column(
    tmp_path: Path, column: str, value: str, named: str
) -> None:
    fields = {"gemeente": "Baarn", "email": "burgemeester@baarn.example", "achternaam": "Proefstra"}
    fields |= {"tussenvoegsel": "", "voorletters": "J.", column: value}
    path = write_csv(
        tmp_path, ",".join(fields) + "\n" + ",".join(fields.values()) + "\n", "lijst.csv"
    )

    problems = problems_of(path)

    assert (problems[0].row, problems[0].column, problems[0].value) == (2, column, value)
    assert named in problems[0].reason
    assert "where the reader would see something other than what was checked" in problems[0].reason


def test_an_invisible_character_in_a_text_column_is_a_warning_and_the_row_is_kept(
    tmp_path: Path,
) -> None:
    path = write_csv(
        tmp_path,
        "gemeente,email,consultatiepunten\n"
        "Baarn,burgemeester@baarn.example,Drugs\u200bafval\n"
        "Bunnik,burgemeester@bunnik.example,Drugsafval\n",
    )

    result = read_recipients(path)

    assert [r.gemeente for r in result.recipients] == ["Baarn", "Bunnik"]
    assert [(w.row, w.column, w.value) for w in result.warnings] == [
        (2, "consultatiepunten", "Drugs\u200bafval")
    ]
    assert "U+200B ZERO WIDTH SPACE" in result.warnings[0].reason


@pytest.mark.parametrize(
    "lookalike",
    ["Baar\u200bn", "\uff22\uff41\uff41\uff52\uff4e", "Baarn\u2069", "B\u00adaarn"],
)
def test_a_gemeente_that_looks_like_an_earlier_one_is_a_duplicate(
    tmp_path: Path, lookalike: str
) -> None:
    path = write_csv(
        tmp_path,
        f"gemeente,email\nBaarn,a@baarn.example\n{lookalike},b@baarn.example\n",
    )

    problems = problems_of(path)

    assert f"gemeente {lookalike!r} already appears in row 2" in [p.reason for p in problems]


def test_duplicate_gemeente_is_reported_on_the_later_row_naming_the_earlier(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "gemeente,email\nBaarn,a@baarn.example\nBunnik,b@bunnik.example\nbaarn,c@baarn.example\n",
    )

    problem = only_problem(path)

    assert (problem.row, problem.column, problem.value) == (4, "gemeente", "baarn")
    assert "row 2" in problem.reason


def test_gemeenten_with_the_same_key_are_duplicates(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "gemeente,email\n's-Hertogenbosch,a@denbosch.example\nS Hertogenbosch,b@denbosch.example\n",
    )

    problem = only_problem(path)

    assert (problem.row, problem.column) == (3, "gemeente")
    assert "row 2" in problem.reason
    assert "s-hertogenbosch" in problem.reason


def test_gemeente_without_letters_or_digits_is_refused(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "gemeente,email\n?!/..,burgemeester@baarn.example\n")

    problem = only_problem(path)

    assert (problem.row, problem.column) == (2, "gemeente")
    assert "file name" in problem.reason


def test_duplicate_email_is_reported_case_insensitively_naming_the_earlier_row(
    tmp_path: Path,
) -> None:
    path = write_csv(
        tmp_path,
        "gemeente,email\nBaarn,burgemeester@baarn.example\nBunnik,Burgemeester@BAARN.example\n",
    )

    problem = only_problem(path)

    assert (problem.row, problem.column) == (3, "email")
    assert "row 2" in problem.reason


def test_missing_required_column_is_named_with_the_columns_found(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "gemeente,e-mail\nBaarn,burgemeester@baarn.example\n")

    problem = only_problem(path)

    assert (problem.row, problem.column) == (1, "email")
    assert "missing" in problem.reason
    assert "gemeente, e-mail" in problem.reason


def test_columns_required_by_the_mailing_are_checked(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "gemeente,email\nBaarn,burgemeester@baarn.example\n")

    with pytest.raises(InputError) as caught:
        read_recipients(path, required_columns=["gemeente", "email", "Achternaam"])

    assert [(p.row, p.column) for p in caught.value.problems] == [(1, "achternaam")]


def test_column_duplicated_after_normalisation_is_reported(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "gemeente,email,Gemeente \nBaarn,burgemeester@baarn.example,x\n")

    problem = only_problem(path)

    assert (problem.row, problem.column) == (1, "gemeente")
    assert "twice" in problem.reason


def test_empty_header_cell_with_data_under_it_is_reported(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "gemeente,email,\nBaarn,burgemeester@baarn.example,\nBunnik,b@bunnik.example,iets\n",
    )

    problem = only_problem(path)

    assert (problem.row, problem.column) == (1, "C")
    assert "row 3" in problem.reason


def test_row_longer_than_the_header_is_reported(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "gemeente,email\nBaarn,burgemeester@baarn.example,extra\n")

    problem = only_problem(path)

    assert (problem.row, problem.column) == (1, "C")


def test_empty_header_cell_without_data_is_ignored(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "gemeente;email;;\nBaarn;burgemeester@baarn.example;;\n")

    assert read_recipients(path).columns == ["gemeente", "email"]


def test_undecodable_bytes_are_reported_with_row_and_byte_offset(tmp_path: Path) -> None:
    data = b"gemeente;email\nBaarn;a@baarn.example\nBunnik;b@bunnik.example\n"
    data += b"Br\x81g;c@brug.example\n"
    path = tmp_path / "lijst.csv"
    path.write_bytes(data)

    problem = only_problem(path)

    assert problem.row == 4
    offset = data.index(b"\x81")
    assert f"byte offset {offset}" in problem.reason
    assert "0x81" in problem.reason


def test_undecodable_bytes_after_windows_1252_text_point_at_the_undefined_byte(
    tmp_path: Path,
) -> None:
    data = "gemeente;email\r\nHeeze-Leende;h@é.example\r\n".encode("cp1252")
    data += b'"Twee\r\nregels";x@y.example\r\nZ\x9d;z@z.example\r\n'
    path = tmp_path / "lijst.csv"
    path.write_bytes(data)

    problem = only_problem(path)

    assert problem.row == 4
    offset = data.index(b"\x9d")
    assert f"byte offset {offset}" in problem.reason


def test_nul_byte_is_reported_with_row_and_byte_offset(tmp_path: Path) -> None:
    data = b"gemeente,email\nBaarn,a@baarn.example\nBun\x00nik,b@bunnik.example\n"
    path = tmp_path / "lijst.csv"
    path.write_bytes(data)

    problem = only_problem(path)

    assert problem.row == 3
    offset = data.index(b"\x00")
    assert f"byte offset {offset}" in problem.reason
    assert "is this really a CSV export?" in problem.reason


def test_unclosed_quote_is_reported_at_its_row(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        'gemeente,email\nBaarn,a@baarn.example\n"Bunnik,b@bunnik.example\nC,c@c.example\n',
    )

    problem = only_problem(path)

    assert problem.row == 3
    assert "never closed" in problem.reason


@pytest.mark.parametrize("name", ["lijst.xls", "lijst.txt", "lijst"])
def test_unsupported_file_type_is_a_problem(tmp_path: Path, name: str) -> None:
    path = write_csv(tmp_path, "gemeente,email\n", name=name)

    problem = only_problem(path)

    assert problem.file == str(path)
    assert "unsupported file type" in problem.reason


def test_missing_file_is_a_problem(tmp_path: Path) -> None:
    assert "does not exist" in only_problem(tmp_path / "weg.csv").reason


def test_empty_file_is_a_problem(tmp_path: Path) -> None:
    assert "empty" in only_problem(write_csv(tmp_path, "")).reason


def test_corrupt_xlsx_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "lijst.xlsx"
    path.write_bytes(b"PK\x03\x04 dit is geen werkmap")

    problem = only_problem(path)

    assert "not a readable .xlsx" in problem.reason


def test_a_list_with_more_than_100_problems_counts_them_all(tmp_path: Path) -> None:
    rows = "".join(f"Gemeente {i},fout-{i}\n" for i in range(150))
    path = write_csv(tmp_path, "gemeente,email\n" + rows)

    with pytest.raises(InputError) as caught:
        read_recipients(path)

    assert len(caught.value.problems) == 150
    lines = caught.value.report().splitlines()
    assert len(lines) == MAX_LISTED_PROBLEMS + 1
    assert "150 in total" in lines[-1]


def test_40000_rows_with_a_few_bad_rows_finds_exactly_those_rows(tmp_path: Path) -> None:
    bad_rows = {2, 17_003, 30_000, 40_001}
    lines = [HEADER.replace(",", ";")]
    for row in range(2, 40_002):
        address = "geen adres" if row in bad_rows else f"burgemeester@gemeente-{row}.example"
        lines.append(
            f"Gemeente {row};mevrouw;drs.;A.B.;van der;Proefstra{row};{address};"
            "Eerste punt over veiligheid|Tweede punt over zorg"
        )
    path = tmp_path / "groot.csv"
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")

    problems = problems_of(path)

    assert {(p.row, p.column) for p in problems} == {(row, "email") for row in bad_rows}


# --- .xlsx ------------------------------------------------------------------------------------


def test_xlsx_first_sheet_is_read_with_numbers_dates_and_blanks_as_text(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path,
        [
            ["Gemeente", "Email", "Inwoners", "Aandeel", "Datum", "Titel"],
            ["Baarn", "burgemeester@baarn.example", 24_000.0, 0.25, dt.datetime(2019, 3, 1), None],
        ],
    )

    fields = read_recipients(path).recipients[0].fields

    assert fields == {
        "gemeente": "Baarn",
        "email": "burgemeester@baarn.example",
        "inwoners": "24000",
        "aandeel": "0.25",
        "datum": "2019-03-01",
        "titel": "",
    }


def test_xlsx_row_numbers_match_excel_with_empty_rows_in_between(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path,
        [
            ["gemeente", "email"],
            ["Baarn", "burgemeester@baarn.example"],
            [],
            [None, None],
            ["Bunnik", "fout"],
        ],
    )

    problem = only_problem(path)

    assert (problem.row, problem.column) == (5, "email")


def test_xlsx_cell_with_alt_enter_in_gemeente_is_refused(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path, [["gemeente", "email"], ["Baarn\nBcc: x", "b@baarn.example"]])

    problem = only_problem(path)

    assert (problem.row, problem.column) == (2, "gemeente")
    assert "line feed" in problem.reason


def _with_cached_values(path: Path, cached: dict[str, bytes]) -> Path:
    """The workbook at `path` with saved values for formula cells, as Excel would store them.

    openpyxl writes formulas without a value (it does not calculate); this puts one in.
    """
    source = zipfile.ZipFile(path)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "xl/worksheets/sheet1.xml":
                for cell, cell_xml in cached.items():
                    data = re.sub(rb'<c r="' + cell.encode() + rb'">.*?</c>', cell_xml, data)
            target.writestr(name, data)
    path.write_bytes(out.getvalue())
    return path


def test_xlsx_formula_without_a_calculated_value_is_refused_naming_sheet_cell_and_formula(
    tmp_path: Path,
) -> None:
    path = write_xlsx(
        tmp_path,
        [
            ["gemeente", "email", "achternaam"],
            ["Baarn", "burgemeester@baarn.example", "Proefstra"],
            ["Bunnik", "burgemeester@bunnik.example", '=UPPER("van ")&C2'],
        ],
    )

    problem = only_problem(path)

    assert problem.row == 3
    assert problem.reason.startswith(
        """sheet 'Sheet', cell C3: the formula =UPPER("van ")&C2 has no calculated value"""
    )
    assert str(problem).startswith(f"{path}, row 3: sheet 'Sheet', cell C3: the formula")


def test_xlsx_formula_with_a_calculated_value_is_read_as_that_value(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path,
        [
            ["gemeente", "email", "achternaam", "inwoners", "toevoeging"],
            ["Baarn", "burgemeester@baarn.example", '=UPPER("proefstra")', "=2*12000", '=""'],
        ],
    )
    _with_cached_values(
        path,
        {
            "C2": b'<c r="C2" t="str"><f>UPPER("proefstra")</f><v>PROEFSTRA</v></c>',
            "D2": b'<c r="D2"><f>2*12000</f><v>24000</v></c>',
            # A formula whose result is the empty string: saved, and empty.
            "E2": b'<c r="E2" t="str"><f>""</f><v></v></c>',
        },
    )

    fields = read_recipients(path).recipients[0].fields

    assert (fields["achternaam"], fields["inwoners"], fields["toevoeging"]) == (
        "PROEFSTRA",
        "24000",
        "",
    )


# --- recipient_key ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gemeente", "key"),
    [
        ("Wijk bij Duurstede", "wijk-bij-duurstede"),
        ("Súdwest/Fryslân", "sudwest-fryslan"),
        ("'s-Hertogenbosch", "s-hertogenbosch"),
        ("../../etc/passwd", "etc-passwd"),
        ("Ĳsselstein", "ijsselstein"),
    ],
)
def test_recipient_key_is_a_safe_slug(gemeente: str, key: str) -> None:
    assert recipient_key(gemeente) == key


# --- context() --------------------------------------------------------------------------------


def test_context_aanspreking_heer_capitalises_tussenvoegsel() -> None:
    context = recipient(aanhef="de heer", tussenvoegsel="van der", achternaam="Berg").context()

    assert context["aanspreking"] == "heer Van der Berg"
    assert context["achternaam_volledig"] == "Van der Berg"
    assert context["aanhef"] == "heer"


def test_context_aanspreking_mevrouw() -> None:
    context = recipient(aanhef="Mevr.", tussenvoegsel="de", achternaam="Vries").context()

    assert context["aanspreking"] == "mevrouw De Vries"


def test_context_aanspreking_without_tussenvoegsel() -> None:
    context = recipient(aanhef="mevrouw", tussenvoegsel="", achternaam="Bakker").context()

    assert (context["aanspreking"], context["achternaam_volledig"]) == ("mevrouw Bakker", "Bakker")


def test_context_aanspreking_is_burgemeester_when_aanhef_is_empty() -> None:
    context = recipient(aanhef="", achternaam="Bakker").context()

    assert context["aanspreking"] == "burgemeester"


def test_context_aanspreking_is_burgemeester_when_achternaam_is_empty() -> None:
    context = recipient(aanhef="heer", tussenvoegsel="van", achternaam="").context()

    assert context["aanspreking"] == "burgemeester"


def test_context_naam_joins_titel_voorletters_tussenvoegsel_achternaam() -> None:
    context = recipient(
        titel="drs.", voorletters="J.", tussenvoegsel="van der", achternaam="Berg"
    ).context()

    assert context["naam"] == "drs. J. van der Berg"


def test_context_naam_leaves_out_empty_parts() -> None:
    context = recipient(titel="", voorletters="K.", tussenvoegsel="", achternaam="Bakker").context()

    assert context["naam"] == "K. Bakker"


def test_context_punten_split_on_bar_stripped_and_empty_ones_dropped() -> None:
    context = recipient(consultatiepunten=" Ondermijning | |Zorg en veiligheid|").context()

    assert context["punten"] == ["Ondermijning", "Zorg en veiligheid"]


def test_context_punten_is_empty_without_consultatiepunten() -> None:
    assert recipient(consultatiepunten="").context()["punten"] == []


def test_context_has_every_column() -> None:
    context = recipient(regio="Midden-Nederland").context()

    assert context["regio"] == "Midden-Nederland"
    assert context["gemeente"] == "Baarn"
