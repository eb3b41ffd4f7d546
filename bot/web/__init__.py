"""The advisors' web view (docs/web.md): aiohttp, Jinja2 templates, one stylesheet, no script."""
