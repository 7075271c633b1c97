"""create_app(): routes, middleware, templates and lifespan; nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from jinja2 import pass_context
from litestar import Litestar, Request, Response
from litestar.config.compression import CompressionConfig
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.logging import LoggingConfig
from litestar.openapi import OpenAPIConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template import TemplateConfig

from server import (
    answers,
    auth,
    dashboard,
    errors,
    health,
    i18n,
    people,
    push,
    questions,
    reminders,
    reports,
    staffapp,
)
from server.auth import AuthMiddleware, RateLimiter
from server.clock import Clock, system_clock
from server.config import Settings, load
from server.db import Database, instance_secret, migrate
from server.deps import Context
from server.headers import security_headers
from server.questions import QuestionBook

TEMPLATES = Path(__file__).parent / "templates"


def create_app(settings: Settings | None = None, clock: Clock = system_clock) -> Litestar:
    settings = settings or load()
    migrate(settings.database)
    secret = settings.secret_key.reveal() or instance_secret(settings.database, "csrf")
    db = Database(settings.database, settings.db_synchronous)
    book = QuestionBook()
    context = Context(db=db, settings=settings, clock=clock)
    scheduler = reminders.Scheduler(settings, clock, db=db)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await db.open()
        await book.reload(db)
        await scheduler.start()
        try:
            yield
        finally:
            await scheduler.stop()
            await db.close()

    return Litestar(
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
        ],
        dependencies={"ctx": Provide(lambda: context, sync_to_thread=False)},
        state=State(
            {
                "settings": settings,
                "db": db,
                "questions": book,
                "reminders": scheduler,
                "rate_limiter": RateLimiter(settings.rate_limit_per_minute, clock),
            }
        ),
        middleware=[AuthMiddleware(db, settings, clock)],
        before_send=[security_headers(settings.secure_cookies)],
        csrf_config=CSRFConfig(
            secret=secret,
            cookie_secure=settings.secure_cookies,
            cookie_httponly=True,
            # JSON calls are protected by auth.same_origin_json instead: the service worker
            # that replays the outbox cannot read a CSRF cookie.
            exclude=["/api/"],
        ),
        template_config=TemplateConfig(
            directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=_template_globals
        ),
        openapi_config=OpenAPIConfig(title="Spiegel", version="1", path="/schema"),
        logging_config=LoggingConfig(
            log_exceptions="always",
            exception_logging_handler=auth.log_uncaught,
            # Expected refusals are answered with a message; only real failures need a trace.
            disable_stack_trace={400, 401, 403, 404, 405, 409, 410, 413, 422, 429},
            root={"level": settings.log_level.upper(), "handlers": ["queue_listener"]},
        ),
        request_max_body_size=settings.max_body_bytes,
        exception_handlers={**errors.handlers, UnicodeDecodeError: _not_utf8},
        compression_config=CompressionConfig(backend="gzip", minimum_size=512),
        lifespan=[lifespan],
    )


def _not_utf8(_: Request[Any, Any, Any], __: UnicodeDecodeError) -> Response[dict[str, Any]]:
    # msgspec raises UnicodeDecodeError on a body that is not UTF-8; Litestar would send a 500.
    detail = "The request body is not valid UTF-8 JSON."
    return Response({"status_code": 400, "detail": detail}, status_code=400)


def _template_globals(engine: JinjaTemplateEngine) -> None:
    @pass_context
    def t(context: Any, key: str, **values: object) -> str:
        return i18n.translator(people.page_language(context["request"]))(key, **values)

    @pass_context
    def lang(context: Any) -> str:
        return people.page_language(context["request"])

    engine.engine.globals.update({"t": t, "lang": lang})
