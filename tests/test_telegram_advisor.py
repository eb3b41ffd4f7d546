"""/advisor through the Bot API emulator: a manager shares their project with an advisor by
typing the advisor's code, sees their shares and withdraws one; what the advisor can read
follows at once."""

from __future__ import annotations

import pytest

from bot.advisors.service import Advisors
from bot.storage.factory import open_storage


@pytest.fixture
async def advisors(database_url):
    storage = open_storage(database_url)
    await storage.migrate()
    yield Advisors(storage)
    await storage.close()


async def test_sharing_listing_and_withdrawing(bot, advisors):
    claire, _ = await advisors.add("Claire Martin")
    marc, _ = await advisors.add("Marc")
    ana = bot.user(id=501, language_code="fr")
    await ana.send("/start")
    await ana.send("Dupont")
    await ana.send(f"/advisor {claire.code.lower()}")
    assert ana.last_text().startswith("🤝 Votre projet « Dupont » est maintenant partagé avec")
    assert "Claire Martin" in ana.last_text()
    await ana.send(f"/advisor {claire.code}")
    assert ana.last_text().startswith("Votre projet « Dupont » est déjà partagé avec Claire")
    await ana.send(f"/advisor {marc.code[:4]}-{marc.code[4:]}")
    [project] = await advisors.storage.shared_projects(claire.id)
    assert project.answers["company"] == "Dupont"
    assert len(await advisors.storage.shared_projects(marc.id)) == 1

    await ana.send("/advisor")
    listing = ana.last_text()
    assert listing.startswith("Vous partagez vos projets avec :")
    assert "• Claire Martin : « Dupont », depuis le" in listing
    assert "• Marc : « Dupont »" in listing
    assert ana.buttons() == ["Retirer : Claire Martin", "Retirer : Marc"]
    await ana.tap("Retirer : Claire Martin")
    assert ana.last_text() == "☑️ Claire Martin ne voit plus votre projet « Dupont »."
    assert await advisors.storage.shared_projects(claire.id) == []
    assert len(await advisors.storage.shared_projects(marc.id)) == 1
    # The same button again (an old message): nothing more to withdraw.
    await ana.tap("Retirer : Claire Martin")
    assert ana.last_text() == "Ce partage est déjà retiré."


async def test_an_unknown_code_is_explained_and_shares_nothing(bot, advisors):
    claire, _ = await advisors.add("Claire")
    ana = bot.user(id=502, language_code="en")
    await ana.send("/start")
    await ana.send("Acme")
    await ana.send("/advisor ZZZZ")
    assert ana.last_text().startswith("I can't find an advisor with the code “ZZZZ”.")
    await ana.send("/advisor")
    assert ana.last_text().startswith("You don't share your project with any advisor.")
    assert await advisors.storage.shared_projects(claire.id) == []


async def test_nothing_to_share_before_the_first_answer(bot, advisors):
    claire, _ = await advisors.add("Claire")
    ben = bot.user(id=503, language_code="fr")
    await ben.send(f"/advisor {claire.code}")
    assert ben.last_text().startswith("Vous n’avez pas encore de projet à partager")
    assert await advisors.storage.shared_projects(claire.id) == []


async def test_another_managers_button_withdraws_nothing(bot, advisors):
    claire, _ = await advisors.add("Claire")
    ana = bot.user(id=504, language_code="fr")
    await ana.send("/start")
    await ana.send("Dupont")
    await ana.send(f"/advisor {claire.code}")
    [(share, _)] = await advisors.shares((await advisors.storage.get_user("tg:504")).id)
    eve = bot.user(id=505, language_code="fr")
    await eve.send("/start")
    await eve.tap_data(f"v|{share.id}")
    assert eve.last_text() == "Ce partage est déjà retiré."
    assert len(await advisors.storage.shared_projects(claire.id)) == 1


async def test_an_invited_partner_cannot_share_the_managers_project(bot, advisors):
    import datetime as dt

    claire, _ = await advisors.add("Claire")
    ana = bot.user(id=506, language_code="fr")
    await ana.send("/start")
    await ana.send("Dupont")
    storage = advisors.storage
    owner = await storage.get_user("tg:506")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    invitation = await storage.create_invitation(
        owner.current_project_id, user_id=owner.id, token_hash="h-506", expires_at=later
    )
    assert invitation is not None
    partner = await storage.get_or_create_user("tg:507", lang="fr", tz="Europe/Paris")
    joined = await storage.accept_invitation(
        "h-506",
        user_id=partner.id,
        now=dt.datetime.now(dt.UTC),
        dialogue_id="mini",
        state={"at": "company"},
    )
    assert joined.status == "ok"
    eve = bot.user(id=507, language_code="fr")
    await eve.send(f"/advisor {claire.code}")
    assert eve.last_text().startswith("Seul le dirigeant qui a créé ce projet peut le partager")
    assert await storage.shared_projects(claire.id) == []


async def test_mydata_lists_the_shares_given_and_withdrawn(bot, advisors):
    import json

    import jsonschema

    from bot.export.jsondata import SCHEMA_PATH

    claire, _ = await advisors.add("Claire Martin")
    ana = bot.user(id=508, language_code="fr")
    await ana.send("/start")
    await ana.send("Dupont")
    await ana.send(f"/advisor {claire.code}")
    await ana.send("/advisor")
    await ana.tap("Retirer : Claire Martin")
    await ana.send("/mydata")
    data = json.loads(ana.last_document().data)
    jsonschema.validate(data, json.loads(SCHEMA_PATH.read_text()))
    [share] = data["advisor_shares"]
    assert share["advisor"] == "Claire Martin"
    assert share["project_id"] == data["projects"][0]["id"]
    assert share["consented_at"] <= share["withdrawn_at"]
