"""Repeat recognition: "is this new request the same as one we already have?"

``normalize`` (text clean-up), ``encoder`` (the MiniLM sentence encoder, numpy only), ``fallback`` (the
string matcher used when the model cannot load), ``index`` (``Matcher``: the per-scope vectors and
look-ups), ``calibration`` (when a suggestion is worth showing) and ``live`` (``MatchIndex``: a process's
index kept in step with the database, learning from confirmations). The queries that feed it live in
storage/matching.py.
"""
