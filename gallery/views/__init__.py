"""Gallery views, one module per kind of page; all thin: parse, call a service, render."""
