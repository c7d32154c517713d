-- Record an attempt's outcome and claim the next recipient of the same task: finish and claim,
-- each exactly as it runs alone, in one round trip instead of two.
-- KEYS: finish's 5, then claim's 8. ARGV: finish's 10, then claim's 10.
return {
  finish({unpack(KEYS, 1, 5)}, {unpack(ARGV, 1, 10)}),
  claim({unpack(KEYS, 6, 13)}, {unpack(ARGV, 11, 20)}),
}
