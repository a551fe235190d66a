"""Plain HTML pages of the authorization server: sign-in, consent, register.

No JavaScript and no external assets: labelled fields, a legend for the
scope list, errors announced with role="alert", and a CSRF token in every
form.
"""

from __future__ import annotations

from html import escape

from starlette.responses import HTMLResponse

SCOPE_DESCRIPTIONS = {
    "events:read": "See events and seat maps",
    "bookings:write": "Hold seats, check out and pay on your behalf",
    "orders:read": "See your holds and orders",
    "organizer": "Manage your venues and events",
    "partner:stream": "Stream availability and sales of events",
    "checkin": "Check tickets in at the door",
    "admin": "Administer seatline, including OAuth clients",
}

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

_STYLE = """
body { font: 16px/1.5 system-ui, sans-serif; max-width: 28rem; margin: 2rem auto;
       padding: 0 1rem; color: #1a1a1a; }
label { display: block; margin-top: 1rem; font-weight: 600; }
input[type=email], input[type=password] { width: 100%; padding: .5rem;
       font-size: 1rem; box-sizing: border-box; }
button { margin-top: 1.25rem; margin-right: .5rem; padding: .5rem 1rem;
         font-size: 1rem; }
.error { color: #a40000; border: 2px solid #a40000; padding: .5rem; }
fieldset { margin-top: 1rem; }
"""


def _document(title: str, body: str, status: int) -> HTMLResponse:
    html = (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)} · seatline</title>\n<style>{_STYLE}</style>\n"
        f"</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def _error(message: str | None) -> str:
    if not message:
        return ""
    return f'<p class="error" role="alert" id="form-error">{escape(message)}</p>'


def sign_in_page(
    *,
    action: str,
    client_name: str,
    scopes: list[str],
    csrf_token: str,
    register_url: str,
    email: str = "",
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    items = "\n".join(
        f"<li><code>{escape(scope)}</code>: "
        f"{escape(SCOPE_DESCRIPTIONS.get(scope, scope))}</li>"
        for scope in scopes
    )
    described = ' aria-describedby="form-error"' if error else ""
    body = f"""
<h1>Sign in to seatline</h1>
<p><strong>{escape(client_name)}</strong> asks to act on your behalf.</p>
{_error(error)}
<form method="post" action="{escape(action)}">
<input type="hidden" name="csrf_token" value="{escape(csrf_token)}">
<fieldset>
<legend>It asks for these permissions</legend>
<ul>
{items}
</ul>
<p>Only the permissions your account holds are granted.</p>
</fieldset>
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="email" required
 value="{escape(email)}"{described}>
<label for="password">Password</label>
<input id="password" name="password" type="password"
 autocomplete="current-password" required>
<button type="submit" name="decision" value="allow">Sign in and allow</button>
<button type="submit" name="decision" value="deny" formnovalidate>Deny</button>
</form>
<p>No account yet? <a href="{escape(register_url)}">Create one</a>.</p>
"""
    return _document("Sign in", body, status)


def register_page(
    *,
    action: str,
    csrf_token: str,
    email: str = "",
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    body = f"""
<h1>Create a seatline account</h1>
{_error(error)}
<form method="post" action="{escape(action)}">
<input type="hidden" name="csrf_token" value="{escape(csrf_token)}">
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="email" required
 value="{escape(email)}">
<label for="password">Password (at least 10 characters)</label>
<input id="password" name="password" type="password" autocomplete="new-password"
 minlength="10" required>
<button type="submit">Create account</button>
</form>
"""
    return _document("Create an account", body, status)


def message_page(title: str, message: str, *, status: int) -> HTMLResponse:
    body = f"<h1>{escape(title)}</h1>\n<p>{escape(message)}</p>"
    return _document(title, body, status)
