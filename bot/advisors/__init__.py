"""Advisors: the people who coach many managers and follow, through the web view (bot/web/), the
projects managers chose to share with them."""
