"""create_app(): routes, middleware, templates and lifespan; nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

from jinja2 import pass_context
from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.logging import LoggingConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template import TemplateConfig
from litestar.types import (
    HTTPScope,
    LifeSpanReceive,
    LifeSpanScope,
    LifeSpanSend,
    Receive,
    Scope,
    Send,
)

from server import (
    admin,
    answers,
    auth,
    customers,
    dashboard,
    errors,
    health,
    i18n,
    kiosk,
    people,
    push,
    questions,
    reminders,
    reports,
    staffapp,
)
from server.auth import AuthMiddleware, CallerLimits, RateLimiter
from server.clock import Clock, system_clock
from server.config import Settings, load
from server.db import Database, StoreUnavailable, instance_secret, migrate
from server.deps import Context
from server.headers import security_headers
from server.questions import QuestionBook

TEMPLATES = Path(__file__).parent / "templates"
# Statuses of expected refusals (and a store that cannot write, logged in one line by its
# handler): answered with a message, never logged with a traceback.
EXPECTED = {400, 401, 403, 404, 405, 409, 410, 413, 422, 429, 503}


def create_app(settings: Settings | None = None, clock: Clock = system_clock) -> Litestar:
    settings = settings or load()
    migrate(settings.database)
    # What the admin screens stored (time zone, anonymity threshold) applies unless a
    # SPIEGEL_* variable is set.
    org = admin.organisation_of_file(settings.database)
    settings = admin.effective(settings, org)
    secret = settings.secret_key.reveal() or instance_secret(settings.database, "csrf")
    db = Database(settings.database, settings.db_synchronous, settings.db_busy_timeout_ms)
    book = QuestionBook()
    context = Context(db=db, settings=settings, clock=clock)
    scheduler = reminders.Scheduler(settings, clock, db=db)
    retention = admin.Retention(context)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await db.open()
        await book.reload(db)
        await scheduler.start()
        await retention.start()
        try:
            yield
        finally:
            await retention.stop()
            await scheduler.stop()
            await db.close()

    return Spiegel(
        route_handlers=[
            *health.route_handlers,
            *auth.route_handlers,
            *people.route_handlers,
            *questions.route_handlers,
            *answers.route_handlers,
            *staffapp.route_handlers,
            *push.route_handlers,
            *reminders.route_handlers,
            *reports.route_handlers,
            *dashboard.route_handlers,
            *admin.route_handlers,
            *kiosk.route_handlers,
            *customers.route_handlers,
        ],
        dependencies={"ctx": Provide(lambda: context, sync_to_thread=False)},
        state=State(
            {
                "settings": settings,
                "db": db,
                "questions": book,
                "reminders": scheduler,
                "rate_limiter": RateLimiter(settings.rate_limit_per_minute, clock),
                "caller_limits": CallerLimits(settings, clock),
                # The languages the organisation offers (admin screens): pages pick among them.
                "languages": admin.offer(org),
            }
        ),
        middleware=[
            AuthMiddleware(
                db,
                settings,
                clock,
                link_caller=customers.link_caller,
                kiosk_caller=kiosk.principal_for_token,
            )
        ],
        before_send=[security_headers(settings.secure_cookies)],
        csrf_config=CSRFConfig(
            secret=secret,
            cookie_secure=settings.secure_cookies,
            cookie_httponly=True,
            # JSON calls are protected by auth.same_origin_json instead: the service worker
            # that replays the outbox cannot read a CSRF cookie.
            # A customer link's page (/c/...) has no form and must set no cookie at all.
            exclude=["/api/", "/c/"],
        ),
        template_config=TemplateConfig(
            directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=_template_globals
        ),
        # Only the JSON schema: the viewers load their code from other hosts (blank without
        # internet, and a compromised host's script would run as this app).
        openapi_config=OpenAPIConfig(
            title="Spiegel", version="1", path="/schema", render_plugins=[JsonRenderPlugin()]
        ),
        logging_config=LoggingConfig(
            log_exceptions="always",
            exception_logging_handler=auth.log_uncaught,
            disable_stack_trace={*EXPECTED, StoreUnavailable},
            root={"level": settings.log_level.upper(), "handlers": ["queue_listener"]},
        ),
        request_max_body_size=settings.max_body_bytes,
        exception_handlers=errors.handlers,
        request_class=errors.JSONRequest,
        compression_config=CompressionConfig(backend="gzip", minimum_size=512),
        lifespan=[lifespan],
    )


class Spiegel(Litestar):
    """The app, answering HEAD like GET without the body (RFC 9110): Litestar routes HEAD only
    to explicit HEAD handlers and says 405 to a probe of any page."""

    async def __call__(
        self,
        scope: Scope | LifeSpanScope,
        receive: Receive | LifeSpanReceive,
        send: Send | LifeSpanSend,
    ) -> None:
        http = cast(HTTPScope, scope)
        if http["type"] == "http" and http["method"] == "HEAD":
            http["method"] = "GET"
            send = _without_body(cast(Send, send))
        await super().__call__(scope, receive, send)


def _without_body(send: Send) -> Send:
    async def wrapped(message: Any) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return wrapped


def _template_globals(engine: JinjaTemplateEngine) -> None:
    @pass_context
    def t(context: Any, key: str, **values: object) -> str:
        return i18n.translator(people.page_language(context["request"]))(key, **values)

    @pass_context
    def lang(context: Any) -> str:
        return people.page_language(context["request"])

    engine.engine.globals.update({"t": t, "lang": lang})
