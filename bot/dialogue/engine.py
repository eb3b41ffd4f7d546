"""The conversation engine: one input in, what to record and what to show out.

Pure and synchronous: no Telegram, no database, no clock (the caller passes `today`). The caller
loads the state and answers, calls `Engine.handle`, commits `Step.writes` and `Step.state` in one
transaction, and only then shows `Step.views`.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bot.dialogue import parsing
from bot.dialogue.conditions import NOT_YET
from bot.dialogue.machine import Walker
from bot.dialogue.model import DONE, Dialogue, Question, Texts
from bot.dialogue.summary import Summary, build_summary, display, echo_date
from bot.dialogue.views import Answered, Ask, Menu, Option, Say, ShowSummary, View

CONFIRM = "__ok__"  # the multiple-choice "confirm" button
KEEP = "__keep__"  # the "keep this answer" button of a question answered before
EDIT = "__edit__"  # Pick target: which answer to edit
RESTART = "__restart__"  # Pick target: confirm or cancel a restart
COMMANDS = ("start", "help", "why", "back", "skip", "summary", "edit", "restart")
# Commands a manager may also type as words in their language ("pourquoi ?", "aide", "?"), or
# as /words (/pourquoi, /aide): their words are the ui texts `commands.words.<name>`.
WORD_COMMANDS = ("help", "why", "back", "skip", "summary", "edit")
# Why a question cannot be skipped: ui texts `errors.cannot_skip.<reason>`.
SKIP_REASONS = ("type", "branch", "scored", "summary")
# How an ambiguous numeric date was read: ui texts `date_read.<order>`.
DATE_ORDERS = ("day_first", "month_first")
# Input errors the engine adds to the parser's reasons: ui texts `errors.<reason>`.
ENGINE_ERRORS = ("invalid", "not_yesno", "exclusive")
_QUOTES = (('"', '"'), ("“", "”"), ("«", "»"), ("'", "'"), ("‘", "’"))


# Inputs ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Text:
    """Something typed."""

    text: str


@dataclass(frozen=True)
class Pick:
    """A button: `target` is the question id (or EDIT / RESTART), `value` the answer key."""

    target: str
    value: str


@dataclass(frozen=True)
class Command:
    name: str  # one of COMMANDS, or a command word in the user's language ("pourquoi")
    arg: str = ""
    at: str | None = None  # from a button under question `at`: stale if the walk moved on


Input = Text | Pick | Command


# State -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class State:
    """Where one conversation stands. Stored as JSON with the conversation."""

    at: str
    return_to: str | None = None  # set while editing an earlier answer: where to go back to
    draft: tuple[str, ...] | None = None  # multiple choice being ticked
    confirm: str | None = None  # "restart" while a restart awaits confirmation

    def dump(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "return_to": self.return_to,
            "draft": list(self.draft) if self.draft is not None else None,
            "confirm": self.confirm,
        }

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> State:
        draft = data.get("draft")
        return cls(
            at=str(data["at"]),
            return_to=data.get("return_to"),
            draft=tuple(draft) if draft is not None else None,
            confirm=data.get("confirm"),
        )


@dataclass(frozen=True)
class Step:
    """The outcome of one input."""

    state: State
    writes: tuple[tuple[str, Any], ...] = ()  # (question id, value) to record, in order
    views: tuple[View, ...] = ()
    changed: bool = False  # state or answers changed: persist before showing the views
    finished: bool = False  # this step completed the checklist
    restart: bool = False  # archive this conversation and start a new one at `state`


@dataclass
class _Turn:
    """Working memory of one `handle` call."""

    engine: Engine
    state: State
    answers: dict[str, Any]
    texts: Texts
    today: dt.date
    views: list[View] = field(default_factory=list)
    writes: list[tuple[str, Any]] = field(default_factory=list)
    start_state: State | None = None
    finished: bool = False
    restart: bool = False
    path_before: list[str] | None = None  # the path before the answer being accepted

    def step(self) -> Step:
        changed = bool(self.writes) or self.state != self.start_state or self.restart
        return Step(
            self.state,
            tuple(self.writes),
            tuple(self.views),
            changed,
            self.finished,
            self.restart,
        )


class Engine:
    """Walks conversations through one dialogue. Build it once; it keeps no per-user data."""

    def __init__(self, dialogue: Dialogue) -> None:
        self.dialogue = dialogue
        self.walker = Walker(dialogue)

    # Entry points --------------------------------------------------------------------------------
    def new_state(self) -> State:
        return State(at=self.walker.first)

    def texts(self, lang: str) -> Texts:
        return self.dialogue.texts.get(lang) or self.dialogue.texts["fr"]

    def may_finish(self, state: State, answers: Mapping[str, Any], event: Input) -> bool:
        """Whether this input may complete the checklist: an answer (not a command) to the
        last question of the walk that the answers given so far lead to."""
        if isinstance(event, Command) or state.at == DONE or state.confirm is not None:
            return False
        path = self.walker.path(answers)
        return bool(path) and path[-1] == state.at

    def resume(
        self, state: State, answers: Mapping[str, Any], lang: str, today: dt.date, *, fresh: bool
    ) -> tuple[View, ...]:
        """The welcome (fresh) or welcome-back message and the question where the user stands."""
        turn = self._turn(state, answers, lang, today)
        if fresh:
            turn.views.append(Say(turn.texts.ui("welcome")))
        else:
            turn.views.append(Say(turn.texts.ui("welcome_back")))
        self._show_current(turn)
        return tuple(turn.views)

    def current(
        self, state: State, answers: Mapping[str, Any], lang: str, today: dt.date
    ) -> tuple[View, ...]:
        """The current question again (or the end-of-checklist message)."""
        turn = self._turn(state, answers, lang, today)
        self._show_current(turn)
        return tuple(turn.views)

    def summary(
        self, state: State, answers: Mapping[str, Any], lang: str, today: dt.date
    ) -> Summary:
        path = self.walker.path(answers)
        return build_summary(
            self.dialogue, answers, path, self.texts(lang), today, complete=state.at == DONE
        )

    def handle(
        self,
        state: State,
        answers: Mapping[str, Any],
        event: Input,
        lang: str,
        today: dt.date,
    ) -> Step:
        """Apply one input. Never raises on user input: bad input becomes a polite re-ask."""
        turn = self._turn(state, answers, lang, today)
        if state.confirm == "restart" and not isinstance(event, Command):
            self._confirm_restart(turn, event)
            return turn.step()
        if state.confirm is not None:
            turn.state = replace(state, confirm=None)
        if isinstance(event, Command) and event.at is not None and event.at != turn.state.at:
            self._stale(turn)
        elif isinstance(event, Command):
            self._command(turn, event)
        elif isinstance(event, Pick):
            self._pick(turn, event)
        else:
            self._text(turn, event.text)
        return turn.step()

    # Inputs --------------------------------------------------------------------------------------
    def _turn(self, state: State, answers: Mapping[str, Any], lang: str, today: dt.date) -> _Turn:
        if state.at != DONE and state.at not in self.dialogue.questions:
            state = State(at=self.walker.first)  # a question removed from the YAML: start over
        turn = _Turn(self, state, dict(answers), self.texts(lang), today)
        turn.start_state = state
        return turn

    def command_name(self, name: str, lang: str) -> str:
        """The command a /name stands for: itself, or a command word of any language
        (/pourquoi, /aide); "unknown" otherwise."""
        name = name.lower()
        if name in COMMANDS:
            return name
        folded = _fold_word(name)
        for texts in self.dialogue.texts.values():
            for command in WORD_COMMANDS:
                if folded in _words(texts, command):
                    return command
        return "unknown"

    def _typed_command(self, texts: Texts, text: str) -> str | None:
        """The command that typed words stand for in this language ("Pourquoi ?", "aide")."""
        folded = _fold_word(text)
        if not folded:
            return None
        return next((c for c in WORD_COMMANDS if folded in _words(texts, c)), None)

    def _command(self, turn: _Turn, command: Command) -> None:
        name = self.command_name(command.name, turn.texts.lang)
        if name in ("start", "help"):
            if name == "help":
                turn.views.append(Say(turn.texts.ui("help"), kind="commands"))
            self._show_current(turn, repeat=name == "help")
        elif name == "why":
            if turn.state.at == DONE:
                turn.views.append(Say(turn.texts.ui("help"), kind="commands"))
            else:
                turn.views.append(Say(turn.texts.question(turn.state.at, "help"), kind="help"))
        elif name == "back":
            self._back(turn)
        elif name == "skip":
            self._skip(turn)
        elif name == "summary":
            turn.views.append(
                ShowSummary(self.summary(turn.state, turn.answers, turn.texts.lang, turn.today))
            )
            if turn.state.at != DONE:  # mid-way: the question still waits for its answer
                self._show_current(turn, repeat=True)
        elif name == "edit":
            self._edit(turn, command.arg)
        elif name == "restart":
            turn.state = replace(turn.state, confirm="restart", draft=None)
            yes, no = turn.texts.ui("restart.yes"), turn.texts.ui("restart.no")
            turn.views.append(
                Menu(
                    RESTART,
                    turn.texts.ui("restart.confirm"),
                    (Option("yes", yes), Option("no", no)),
                )
            )
        else:
            turn.views.append(Say(turn.texts.ui("errors.unknown_command"), kind="error"))
            self._show_current(turn, repeat=True)

    def _stale(self, turn: _Turn) -> None:
        """A button of a message already dealt with: say so, and where the user stands."""
        turn.views.append(Say(turn.texts.ui("errors.stale"), kind="stale"))
        self._show_current(turn, repeat=True)

    def _pick(self, turn: _Turn, pick: Pick) -> None:
        if pick.target == EDIT:
            self._edit(turn, pick.value)
            return
        if pick.target == RESTART:
            self._stale(turn)
            return
        at = turn.state.at
        if at == DONE or pick.target != at:
            self._stale(turn)
            return
        question = self.dialogue.questions[at]
        value = pick.value
        if value == KEEP and at in turn.answers:
            self._keep(turn, question)
        elif value == NOT_YET and question.notyet:
            self._accept(turn, question, NOT_YET)
        elif question.type == "multi" and value == CONFIRM:
            chosen = self._draft(turn, question)
            if not chosen:
                turn.views.append(Say(turn.texts.ui("errors.choose_one"), kind="error"))
                self._show_current(turn, repeat=True)
            else:
                self._accept(turn, question, [o for o in question.options if o in chosen])
        elif question.type == "multi" and value in question.options:
            ticked = set(self._draft(turn, question)) ^ {value}
            if value in ticked and value in question.exclusive:
                ticked = {value}
            elif value in ticked:
                ticked -= set(question.exclusive)
            turn.state = replace(
                turn.state, draft=tuple(o for o in question.options if o in ticked)
            )
            turn.views.append(self._ask(turn, question, refresh=True))
        elif value in question.choices and question.type != "multi":
            self._accept(turn, question, int(value) if question.type == "scale" else value)
        else:
            self._stale(turn)

    def _text(self, turn: _Turn, text: str) -> None:
        at = turn.state.at
        command = self._typed_command(turn.texts, text)
        if command is not None:  # "Pourquoi ?", "aide", "?": the command, not an answer
            self._command(turn, Command(command))
            if at != DONE and self.dialogue.questions[at].type == "text":
                turn.views.append(Say(turn.texts.ui("literal", text=text.strip()), kind="help"))
            return
        if at == DONE:
            turn.views.append(Say(turn.texts.ui("done_already")))
            return
        question = self.dialogue.questions[at]
        if not text.strip() and at in turn.answers:  # Enter on a question answered before
            self._keep(turn, question)
            return
        try:
            value = self._parse(turn, question, _literal(turn.texts, question, text))
        except parsing.ParseError as exc:
            params: dict[str, Any] = {
                "min": question.minimum,
                "max": question.maximum,
                "max_length": question.max_length,
                "count": len(text),
                "notyet": turn.texts.option(question, NOT_YET),
                **exc.params,
            }
            reason = exc.reason if turn.texts.has(f"ui.errors.{exc.reason}") else "invalid"
            error = turn.texts.ui(f"errors.{reason}", **params)
            if "suggestion" in exc.params:  # a date in the wrong order: the right one
                error += " " + turn.texts.ui("errors.date_suggestion", **params)
            turn.views.append(Say(error, kind="error"))
            turn.views.append(self._ask(turn, question, repeat=True))
            return
        self._accept(turn, question, value, typed=text)

    def _parse(self, turn: _Turn, question: Question, text: str) -> Any:
        if question.notyet and parsing.is_not_yet(text):
            return NOT_YET
        kind = question.type
        labels = [(key, turn.texts.option(question, key)) for key in question.choices]
        if kind == "text":
            return parsing.normalize_text(text, max_length=question.max_length)
        if kind == "number":
            return parsing.parse_int(text, minimum=question.minimum, maximum=question.maximum)
        if kind == "scale":
            return parsing.parse_int(text, minimum=question.minimum, maximum=question.maximum)
        if kind == "date":
            value = parsing.parse_date(text, today=turn.today, lang=turn.texts.lang)
            return value.isoformat()
        if kind == "yesno":
            answer = parsing.parse_yesno(text)
            if answer is not None:
                return answer
            try:  # a terminal shows yes / no / not yet as numbered choices
                return parsing.parse_choice(text, labels)
            except parsing.ParseError:
                raise parsing.ParseError("not_yesno") from None
        if kind == "choice":
            return parsing.parse_choice(text, labels)
        chosen = parsing.parse_choices(text, labels)
        alone = [key for key in chosen if key in question.exclusive]
        if len(chosen) > 1 and alone:
            raise parsing.ParseError("exclusive", option=turn.texts.option(question, alone[0]))
        return chosen

    # Moves ---------------------------------------------------------------------------------------
    def _accept(self, turn: _Turn, question: Question, value: Any, typed: str = "") -> None:
        turn.path_before = self.walker.path(turn.answers)
        turn.answers[question.id] = value
        turn.writes.append((question.id, value))
        shown = display(question, value, turn.texts)
        if question.type == "date" and value != NOT_YET:  # how the date was read, in full
            shown = echo_date(dt.date.fromisoformat(value), turn.texts)
            month_first = parsing.read_month_first(typed, turn.texts.lang) if typed else None
            if month_first is not None:
                order = DATE_ORDERS[1] if month_first else DATE_ORDERS[0]
                shown = turn.texts.ui(f"date_read.{order}", date=shown)
        turn.views.append(Answered(question.id, turn.texts.question(question.id), shown))
        self._move_on(turn, question.id)

    def _keep(self, turn: _Turn, question: Question) -> None:
        """Keep the answer given before (Enter, or the "keep" button) and move on."""
        turn.path_before = self.walker.path(turn.answers)
        shown = display(question, turn.answers[question.id], turn.texts)
        turn.views.append(Answered(question.id, turn.texts.question(question.id), shown))
        self._move_on(turn, question.id, changed=False)

    def _move_on(self, turn: _Turn, left: str, *, changed: bool = True) -> None:
        """Go to the next question after `left` (or back to where an edit started)."""
        path = self.walker.path(turn.answers)
        return_to = turn.state.return_to
        keep: str | None = None  # return_to, while a branch opened by an edit is answered
        if return_to is not None:
            # An edit that opened a new branch asks its new questions before going back.
            before = set(turn.path_before or path)
            opened = [q for q in path if q not in before and q not in turn.answers]
            if opened:
                target = opened[0]
                keep = return_to
            elif return_to == DONE or return_to in path:
                target = return_to
            else:
                target = next((q for q in path if q not in turn.answers), DONE)
        else:
            target = self.walker.next_after(left, turn.answers)
        was_done = turn.start_state is not None and turn.start_state.at == DONE
        turn.state = State(at=target, return_to=keep)
        if target == DONE:
            if return_to == DONE or was_done:
                if changed:
                    turn.views.append(Say(turn.texts.ui("edit_saved")))
            else:
                turn.finished = True
                turn.views.append(Say(turn.texts.ui("done")))
            turn.views.append(
                ShowSummary(self.summary(turn.state, turn.answers, turn.texts.lang, turn.today))
            )
            return
        if return_to is not None and changed:
            turn.views.append(Say(turn.texts.ui("edit_saved")))
        turn.views.append(self._ask(turn, self.dialogue.questions[target]))

    def _back(self, turn: _Turn) -> None:
        path = self.walker.path(turn.answers)
        at = turn.state.at
        if at == DONE:
            target: str | None = path[-1]
        elif at in path and path.index(at) > 0:
            target = path[path.index(at) - 1]
        else:
            target = None
        if target is None:
            turn.views.append(Say(turn.texts.ui("errors.no_back"), kind="error"))
            self._show_current(turn, repeat=True)
            return
        turn.state = replace(turn.state, at=target, draft=None)
        turn.views.append(self._ask(turn, self.dialogue.questions[target]))

    def _skip(self, turn: _Turn) -> None:
        at = turn.state.at
        if at == DONE:
            turn.views.append(Say(turn.texts.ui("done_already")))
            return
        question = self.dialogue.questions[at]
        if not question.optional:
            why = turn.texts.ui(f"errors.cannot_skip.{self._needed_for(question)}")
            if question.notyet:
                why += " " + turn.texts.ui(
                    "errors.skip_notyet", notyet=turn.texts.option(question, NOT_YET)
                )
            turn.views.append(Say(why, kind="error"))
            turn.views.append(self._ask(turn, question, repeat=True))
            return
        turn.state = replace(turn.state, draft=None)
        self._move_on(turn, at)

    def _needed_for(self, question: Question) -> str:
        """Why a required question cannot be skipped: one of SKIP_REASONS."""
        criteria = {qid for rule in self.dialogue.alliance_type.criteria for qid in rule.questions}
        if question.id in criteria:
            return "type"
        if any(question.id in q.depends_on for q in self.dialogue.questions.values()):
            return "branch"
        return "scored" if question.weight > 0 else "summary"

    def _edit(self, turn: _Turn, arg: str) -> None:
        path = self.walker.path(turn.answers)
        answered = [qid for qid in path if qid in turn.answers]
        target = arg.strip()
        if target.isdigit() and 1 <= int(target) <= len(answered):
            target = answered[int(target) - 1]
        if target not in answered:
            if not answered:
                turn.views.append(Say(turn.texts.ui("errors.nothing_to_edit"), kind="error"))
                self._show_current(turn, repeat=True)
                return
            texts = turn.texts
            options = tuple(
                Option(
                    qid,
                    texts.ui(
                        "summary.pair",
                        label=texts.question(qid, "label"),
                        value=_short(
                            display(self.dialogue.questions[qid], turn.answers[qid], texts)
                        ),
                    ),
                    group=texts.get(f"stages.{self.dialogue.questions[qid].stage}.title"),
                )
                for qid in answered
            )
            turn.views.append(Menu(EDIT, texts.ui("edit.choose"), options))
            return
        return_to = turn.state.return_to or turn.state.at
        turn.state = State(at=target, return_to=return_to if return_to != target else None)
        turn.views.append(self._ask(turn, self.dialogue.questions[target]))

    def _confirm_restart(self, turn: _Turn, event: Input) -> None:
        choice: str | None = None
        if isinstance(event, Pick) and event.target == RESTART:
            choice = event.value
        elif isinstance(event, Text):
            choice = parsing.parse_yesno(event.text)
        turn.state = replace(turn.state, confirm=None)
        if choice == "yes":
            turn.restart = True
            turn.answers = {}
            turn.state = self.new_state()
            turn.views.append(Say(turn.texts.ui("restart.done")))
            self._show_current(turn)
        else:
            turn.views.append(Say(turn.texts.ui("restart.cancelled")))
            self._show_current(turn, repeat=True)

    # Views ---------------------------------------------------------------------------------------
    def _show_current(self, turn: _Turn, *, repeat: bool = False) -> None:
        """The current question; `repeat` when it was on screen already (after an error, a
        command...): its stage introduction is not shown again."""
        if turn.state.at == DONE:
            turn.views.append(Say(turn.texts.ui("done_already")))
        else:
            question = self.dialogue.questions[turn.state.at]
            turn.views.append(self._ask(turn, question, repeat=repeat))

    def _draft(self, turn: _Turn, question: Question) -> tuple[str, ...]:
        if turn.state.draft is not None:
            return turn.state.draft
        existing = turn.answers.get(question.id)
        return tuple(existing) if isinstance(existing, list) else ()

    def _reachable_in_stage(self, turn: _Turn, question: Question, path: list[str]) -> list[str]:
        """The questions of `question`'s stage that the current answers leave reachable: those
        on the path, and the conditional ones that an answer still to come may open. Counting
        them keeps the progress from jumping ("7/7" then "8/8") when such a question opens."""
        ahead = set(path[path.index(question.id) :]) if question.id in path else set()
        stage = self.dialogue.stages[self.dialogue.stage_index(question.stage)]
        on_path = set(path)
        return [
            q.id
            for q in stage.questions
            if q.id in on_path
            or q.id == question.id
            or (q.conditional and any(d in ahead and d not in turn.answers for d in q.depends_on))
        ]

    def _ask(
        self, turn: _Turn, question: Question, *, refresh: bool = False, repeat: bool = False
    ) -> Ask:
        texts = turn.texts
        path = self.walker.path(turn.answers)
        if question.id not in path:
            path = [*path, question.id]
        stage_index = self.dialogue.stage_index(question.stage)
        in_stage = self._reachable_in_stage(turn, question, path)
        progress = texts.ui(
            "progress",
            stage=stage_index + 1,
            stages=len(self.dialogue.stages),
            question=in_stage.index(question.id) + 1,
            questions=len(in_stage),
        )
        selected = set(self._draft(turn, question)) if question.type == "multi" else set()
        options = tuple(
            Option(key, texts.option(question, key), key in selected)
            for key in question.choices
            if key != NOT_YET or question.type == "yesno"
        )
        first_of_stage = in_stage[0] == question.id and not refresh and not repeat
        value = turn.answers.get(question.id)
        hint_params = {
            "max_length": question.max_length,
            "min": question.minimum,
            "max": question.maximum,
            "notyet": texts.option(question, NOT_YET),
        }
        return Ask(
            question_id=question.id,
            type=question.type,
            progress=progress,
            text=texts.question(question.id),
            hint=texts.ui(f"hints.{question.type}", **hint_params),
            options=options,
            stage_title=texts.get(f"stages.{question.stage}.title") if first_of_stage else None,
            stage_intro=texts.get(f"stages.{question.stage}.intro") if first_of_stage else None,
            current=display(question, value, texts) if value is not None else None,
            notyet=question.notyet,
            notyet_label=texts.option(question, NOT_YET) if question.notyet else "",
            can_back=path.index(question.id) > 0,
            can_skip=question.optional,
            refresh=refresh,
        )


def _fold_word(text: str) -> str:
    """Typed words as compared with command words: case, accents, spaces and a leading "/"
    do not matter ("Pourquoi ?" and "pourquoi?" are the same)."""
    folded = parsing.fold(text.strip().lstrip("/"))
    return " ".join(folded.replace("?", " ?").split())


def _words(texts: Texts, command: str) -> frozenset[str]:
    """The words that stand for `command` in this language (ui `commands.words.<command>`)."""
    return _folded_words(texts.ui(f"commands.words.{command}"))


@functools.cache
def _folded_words(words: str) -> frozenset[str]:
    """Comma-separated command words, folded: once per text of the dialogues (every typed
    line is compared with every command's words)."""
    return frozenset(_fold_word(word) for word in words.split(","))


def _literal(texts: Texts, question: Question, text: str) -> str:
    """A command word between quotes, on a text question, is the answer itself: «Pourquoi ?»
    stores "Pourquoi ?". Anything else is returned as typed."""
    stripped = text.strip()
    if question.type != "text" or len(stripped) < 3:
        return text
    for opening, closing in _QUOTES:
        if stripped.startswith(opening) and stripped.endswith(closing):
            inner = stripped[len(opening) : -len(closing)].strip()
            folded = _fold_word(inner)
            if any(folded in _words(texts, c) for c in WORD_COMMANDS):
                return inner
    return text


def _short(text: str, limit: int = 40) -> str:
    """A long answer cut at a word for a list ("We sell our ovens in…")."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > 0 else limit].rstrip(" ,;:") + "…"
