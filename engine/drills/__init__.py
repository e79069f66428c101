"""Emergency drills and safety education (seed 004: 每学期至少2次应急演练、专题教育不少于8课时，全员参加)."""
