"""Team administration pages (members, credits, model access, ledger, reports, audit)."""
