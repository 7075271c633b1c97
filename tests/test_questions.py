"""GET /api/v1/questions: the active questions the caller may answer, to cache offline."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

from server import auth
from tests.conftest import db_of, signed_in_staff

Client = AsyncTestClient[Litestar]


async def test_staff_see_the_active_staff_questions_with_texts_and_scales(
    app: Litestar, client: Client
) -> None:
    await signed_in_staff(app, client)

    questions = (await client.get("/api/v1/questions")).json()["questions"]

    assert [(q["id"], q["kind"]) for q in questions] == [
        (1, "checkin"),
        (2, "contact_self"),
        (3, "enps"),
    ]
    checkin = questions[0]
    assert checkin["texts"] == {"nl": "Prettige dag gehad?", "en": "Did you have a good day?"}
    assert checkin["scale"] == {"min": 1, "max": 2}
    assert questions[2]["scale"] == {"min": 0, "max": 10}


async def test_api_key_sees_the_active_customer_questions(app: Litestar, client: Client) -> None:
    key = await auth.create_api_key(db_of(app), "kassa", None, 0)

    response = await client.get("/api/v1/questions", headers={"Authorization": f"Bearer {key}"})

    kinds = [(q["id"], q["kind"]) for q in response.json()["questions"]]
    assert kinds == [(4, "customer_csat"), (5, "customer_nps")]


async def test_activated_question_is_listed_after_a_reload(app: Litestar, client: Client) -> None:
    await signed_in_staff(app, client)
    async with db_of(app).transaction() as tx:
        await tx.execute("UPDATE questions SET active = 1 WHERE id = 6")
        await tx.execute("UPDATE questions SET active = 0 WHERE id = 1")
    await app.state.questions.reload(db_of(app))

    questions = (await client.get("/api/v1/questions")).json()["questions"]

    assert [q["id"] for q in questions] == [2, 3, 6]
    assert questions[-1]["aspect"] == "speed"


async def test_questions_need_a_sign_in(client: Client) -> None:
    response = await client.get("/api/v1/questions")

    assert response.status_code == 401
