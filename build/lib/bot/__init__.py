"""alliance-bot: a Telegram advisory bot for setting up a business alliance."""

__version__ = "0.1.0"
