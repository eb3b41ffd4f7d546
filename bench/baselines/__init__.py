"""The two baseline bots the benchmarks run next to ours: small PTB programs, run as processes."""
