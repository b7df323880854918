//! Reports: one self-contained HTML page per run (not built yet).
