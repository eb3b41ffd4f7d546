"""The dialogue core, driven like a chat: no Telegram, no database."""

import pytest

from bot.dialogue.engine import CONFIRM, EDIT, RESTART, Command, Pick, Text
from bot.dialogue.model import DONE
from bot.dialogue.views import Answered, Ask, Menu, Say, ShowSummary
from tests.dialogue_fixtures import TODAY


class Chat:
    """Keeps state and answers the way storage would, and reads like a conversation."""

    def __init__(self, engine, lang="en"):
        self.engine = engine
        self.lang = lang
        self.state = engine.new_state()
        self.answers = {}
        self.views = engine.resume(self.state, self.answers, lang, TODAY, fresh=True)
        self.history = []

    def _do(self, event):
        step = self.engine.handle(self.state, self.answers, event, self.lang, TODAY)
        self.history.extend(step.writes)
        if step.restart:
            self.answers = {}
        for qid, value in step.writes:
            self.answers[qid] = value
        self.state = step.state
        self.views = step.views
        return step

    def send(self, text):
        if text.startswith("/"):
            name, _, arg = text[1:].partition(" ")
            return self._do(Command(name, arg))
        return self._do(Text(text))

    def tap(self, target, value):
        return self._do(Pick(target, value))

    @property
    def ask(self):
        asks = [v for v in self.views if isinstance(v, Ask)]
        return asks[-1] if asks else None

    def said(self):
        return " | ".join(v.text for v in self.views if isinstance(v, Say))


@pytest.fixture
def chat(mini_engine):
    return Chat(mini_engine)


def answer_all(chat, kind="alpha"):
    chat.send("Acme")
    chat.tap("kind", kind)
    if kind == "competitor":
        chat.tap("coop", "no")
    chat.tap("picks", "x")
    chat.tap("picks", "y")
    chat.tap("picks", CONFIRM)
    chat.tap("level", "4")
    chat.send("/skip")
    chat.send("03/15/2027")
    return chat.send("3")


def test_welcome_then_first_question_with_stage_and_progress(chat):
    assert "Hello!" in chat.views[0].text
    assert chat.ask.question_id == "company"
    assert chat.ask.stage_title == "One-en"
    assert chat.ask.progress == "Stage 1/2 · question 1/3"  # the competitor question may open


def test_text_answer_is_recorded_and_next_question_asked(chat):
    step = chat.send("  Acme  ")
    assert step.writes == (("company", "Acme"),)
    assert step.changed
    assert isinstance(step.views[0], Answered)
    assert step.views[0].display == "Acme"
    assert chat.ask.question_id == "kind"
    assert [o.label for o in chat.ask.options] == ["Alpha-en", "Beta-en", "Rival-en"]


def test_too_long_text_is_refused_and_question_repeated(chat):
    step = chat.send("x" * 21)
    assert step.writes == ()
    assert "keep it to 20" in chat.said()
    assert chat.ask.question_id == "company"
    assert chat.state.at == "company"


def test_empty_text_is_refused(chat):
    chat.send("   ")
    assert "empty" in chat.said()
    assert chat.state.at == "company"


def test_french_error_messages(mini_engine):
    chat = Chat(mini_engine, lang="fr")
    chat.send("Acme")
    chat.send("quelque chose")
    assert "choix proposés" in chat.said()
    assert chat.ask.question_id == "kind"


def test_branch_opens_only_for_competitor(mini_engine):
    plain = Chat(mini_engine)
    plain.send("Acme")
    plain.tap("kind", "beta")
    assert plain.ask.question_id == "picks"
    rival = Chat(mini_engine)
    rival.send("Acme")
    rival.tap("kind", "competitor")
    assert rival.ask.question_id == "coop"
    assert rival.ask.progress == "Stage 1/2 · question 3/3"


def test_typed_choice_by_number_and_label(chat):
    chat.send("Acme")
    chat.send("3")
    assert chat.answers["kind"] == "competitor"
    chat.send("/back")
    chat.send("beta-EN")
    assert chat.answers["kind"] == "beta"


def test_multi_toggles_in_place_and_confirms(chat):
    chat.send("Acme")
    chat.tap("kind", "alpha")
    step = chat.tap("picks", "y")
    assert step.writes == ()
    assert chat.ask.refresh
    assert [o.selected for o in chat.ask.options] == [False, True, False]
    chat.tap("picks", "x")
    chat.tap("picks", "y")
    chat.tap("picks", CONFIRM)
    assert chat.answers["picks"] == ["x"]
    assert chat.ask.question_id == "level"


def test_multi_confirm_needs_a_selection(chat):
    chat.send("Acme")
    chat.tap("kind", "alpha")
    chat.tap("picks", CONFIRM)
    assert "at least one" in chat.said()
    assert chat.state.at == "picks"


def test_multi_typed_as_numbers(chat):
    chat.send("Acme")
    chat.tap("kind", "alpha")
    chat.send("2, 1")
    assert chat.answers["picks"] == ["x", "y"]


def test_exclusive_option_clears_the_others(chat):
    chat.send("Acme")
    chat.tap("kind", "alpha")
    chat.tap("picks", "x")
    chat.tap("picks", "z")
    assert [o.selected for o in chat.ask.options] == [False, False, True]
    chat.tap("picks", "y")
    assert [o.selected for o in chat.ask.options] == [False, True, False]
    chat.send("1, 3")
    assert "can't be combined" in chat.said()
    assert chat.state.at == "picks"


def test_scale_number_and_yesno_answers(mini_engine):
    chat = Chat(mini_engine)
    chat.send("Acme")
    chat.tap("kind", "competitor")
    chat.send("pas encore")
    assert chat.answers["coop"] == "notyet"
    chat.send("2")
    assert chat.answers["picks"] == ["y"]
    chat.send("9")
    assert "5 or less" in chat.said()
    chat.send("5")
    assert chat.answers["level"] == 5


def test_date_typed_naturally_and_invalid_date(chat):
    chat.send("Acme")
    chat.tap("kind", "alpha")
    chat.send("1")
    chat.tap("level", "3")
    chat.send("/skip")
    chat.send("31/02/2027")
    assert "didn't recognise a date" in chat.said()
    chat.send("in 2 weeks")
    assert chat.answers["when_start"] == "2026-12-10"


def test_not_yet_becomes_a_next_step(chat):
    chat.send("Acme")
    chat.tap("kind", "alpha")
    chat.send("1")
    chat.tap("level", "3")
    chat.send("/skip")
    chat.send("not yet")
    assert chat.answers["when_start"] == "notyet"
    chat.send("6")
    summary = next(v for v in chat.views if isinstance(v, ShowSummary)).summary
    todo = [s for s in summary.diagnosis.next_steps if s.question_id == "when_start"]
    assert todo[0].text == "Decide on: Start-en"
    assert (todo[0].due - TODAY).days == 10


def test_skip_only_optional_questions(chat):
    chat.send("/skip")
    assert "can't skip" in chat.said()
    assert chat.state.at == "company"


def test_completing_gives_summary_and_diagnosis(chat):
    step = answer_all(chat)
    assert step.finished
    assert chat.state.at == DONE
    summary = next(v for v in step.views if isinstance(v, ShowSummary)).summary
    d = summary.diagnosis
    assert d.alliance_type == "strategic"
    assert d.reasons == ("Big-en",)
    assert [flag.id for flag in d.red_flags] == ["few_sessions"]
    scores = {s.stage_id: s.score for s in d.readiness}
    # level 4 on 1-5 -> 0.75 with weight 2, sessions 3 fails ge 4 -> 0 with weight 1
    assert scores == {"one": None, "two": 50}
    assert summary.company == "Acme"
    lines = {a.question_id: a.display for s in summary.stages for a in s.answers}
    assert lines["picks"] == "Ex-en, Why-en"
    assert lines["when_start"] == "March 15, 2027"
    assert lines["note"] == "—"
    assert "coop" not in lines


def test_next_step_rule_from_answers(mini_engine):
    chat = Chat(mini_engine)
    step = answer_all(chat, kind="competitor")
    summary = next(v for v in step.views if isinstance(v, ShowSummary)).summary
    plan = [s for s in summary.diagnosis.next_steps if s.key == "plan"]
    assert plan[0].text == "Plan-en"
    assert (plan[0].due - TODAY).days == 7


def test_back_goes_to_previous_question_and_keeps_answers(chat):
    chat.send("Acme")
    chat.tap("kind", "beta")
    chat.send("/back")
    assert chat.ask.question_id == "kind"
    assert chat.ask.current == "Beta-en"
    assert chat.answers["company"] == "Acme"
    chat.send("/back")
    chat.send("/back")
    assert "first question" in chat.said()


def test_stale_button_is_refused_and_nothing_recorded(chat):
    chat.send("Acme")
    chat.tap("kind", "alpha")
    step = chat.tap("kind", "beta")
    assert step.writes == ()
    assert "already dealt with" in chat.said()
    assert chat.answers["kind"] == "alpha"
    assert chat.ask.question_id == "picks"


@pytest.mark.parametrize(
    ("target", "value"), [("kind", "nope"), ("zzz", "1"), ("", ""), (RESTART, "yes")]
)
def test_forged_buttons_do_not_crash(chat, target, value):
    chat.send("Acme")
    step = chat.tap(target, value)
    assert step.writes == ()
    assert chat.ask.question_id == "kind"


def test_edit_an_earlier_answer_then_return(chat):
    chat.send("Acme")
    chat.tap("kind", "alpha")
    chat.send("1")
    chat.send("/edit")
    menu = next(v for v in chat.views if isinstance(v, Menu))
    assert [o.value for o in menu.options] == ["company", "kind", "picks"]
    chat.tap(EDIT, "company")
    assert chat.ask.question_id == "company"
    assert chat.ask.current == "Acme"
    chat.send("Globex")
    assert chat.answers["company"] == "Globex"
    assert chat.history.count(("company", "Acme")) == 1
    assert "Answer updated" in chat.said()
    assert chat.ask.question_id == "level"


def test_edit_changing_branch_continues_at_first_unanswered(chat):
    chat.send("Acme")
    chat.tap("kind", "alpha")
    chat.send("/edit 2")
    chat.tap("kind", "competitor")
    assert chat.ask.question_id == "coop"
    chat.tap("coop", "yes")
    assert chat.ask.question_id == "picks"


def test_edit_after_done_returns_to_summary(chat):
    answer_all(chat)
    chat.send("/edit level")
    chat.tap("level", "1")
    assert chat.state.at == DONE
    assert any(isinstance(v, ShowSummary) for v in chat.views)
    assert "Answer updated" in chat.said()


def test_restart_needs_confirmation(chat):
    chat.send("Acme")
    chat.send("/restart")
    menu = next(v for v in chat.views if isinstance(v, Menu))
    assert menu.target == RESTART
    step = chat.tap(RESTART, "no")
    assert not step.restart
    assert chat.answers == {"company": "Acme"}
    chat.send("/restart")
    step = chat.send("yes")
    assert step.restart
    assert chat.state.at == "company"
    assert chat.ask.question_id == "company"


def test_summary_any_time_is_provisional(chat):
    chat.send("Acme")
    chat.send("/summary")
    summary = next(v for v in chat.views if isinstance(v, ShowSummary)).summary
    assert not summary.complete
    assert summary.diagnosis.alliance_type is None


def test_why_shows_help_of_current_question(chat):
    chat.send("/why")
    assert chat.views[0].kind == "help"
    assert chat.views[0].text == "Why name en"


def test_unknown_command(chat):
    chat.send("/frobnicate")
    assert "don't know that command" in chat.said()


def test_text_after_done_points_to_commands(chat):
    answer_all(chat)
    step = chat.send("hello")
    assert step.writes == ()
    assert "/summary" in chat.said()


def test_state_round_trips_through_json(chat):
    import json

    chat.send("Acme")
    chat.tap("kind", "alpha")
    chat.tap("picks", "y")
    from bot.dialogue.engine import State

    assert State.load(json.loads(json.dumps(chat.state.dump()))) == chat.state


def test_control_button_of_an_old_question_is_stale(chat):
    chat.send("Acme")
    step = chat._do(Command("back", at="company"))
    assert step.writes == ()
    assert "already dealt with" in chat.said()
    assert chat.state.at == "kind"
    chat._do(Command("back", at="kind"))
    assert chat.state.at == "company"


def test_only_an_answer_to_the_walks_last_question_may_finish_the_checklist(chat):
    """The bot lets other users' updates go first when an input may end a checklist."""
    engine = chat.engine
    inputs = [
        Text("Acme"),
        Pick("kind", "alpha"),
        Pick("picks", "x"),
        Pick("picks", "y"),
        Pick("picks", CONFIRM),
        Pick("level", "4"),
        Command("skip", ""),
        Text("03/15/2027"),
        Command("why", ""),  # a command at the last question changes nothing
        Text("3"),
    ]
    flags = []
    for event in inputs:
        flags.append(engine.may_finish(chat.state, chat.answers, event))
        chat._do(event)
    assert flags == [False] * 9 + [True]
    assert chat.state.at == DONE
    assert not engine.may_finish(chat.state, chat.answers, Text("3"))
