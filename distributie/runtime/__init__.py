"""The processes distributie runs for itself: the private Redis, embedded workers, and logging."""
