"""Static leaderboard site built from result files."""
