"""Reports: the 隐患问题统计表 figures, its Excel layout, and the snapshots stored on report dates."""
