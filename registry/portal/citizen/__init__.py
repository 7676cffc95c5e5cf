"""The citizen's pages beyond 'my record': who accessed my data, security, aliases, consents.

Server-rendered and usable without JavaScript (adding a passkey excepted). Every form is a POST
with the CSRF token, answered by a 303 back to its page (POST-redirect-GET); every page that
shows personal data records its view (registry.portal.service). Times are shown in Vietnamese
time (UTC+7, Asia/Ho_Chi_Minh), and say so.
"""

from fastapi import APIRouter

from core.inputs import OutsideTextRoute
from registry.portal.citizen import access, questions, security, sharing

router = APIRouter(route_class=OutsideTextRoute, include_in_schema=False)
for part in (access, questions, security, sharing):
    router.include_router(part.router)
