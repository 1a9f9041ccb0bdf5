"""Search: words matched in the stored search keys (match.py), and GET /search (router.py)."""
