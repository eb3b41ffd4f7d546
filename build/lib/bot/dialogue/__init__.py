"""The dialogue core: pure, synchronous Python. No Telegram and no database in here.

`load_dialogue()` reads dialogues/*.yaml into a `Dialogue`; `Engine` walks one conversation through
it, one input at a time, and returns what to record and what to show.
"""
