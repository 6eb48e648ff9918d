"""Team pages: members, credits, model access, ledger, reports, audit trail; one module per page.

Thin: parse a form, call a service, render. Every page acts on the signed-in user's
current team, and every object in a URL is looked up inside that team, so another
team's ids are a 404. Pages for owners and admins answer 403 to everyone else.
"""
