"""A stand-in for the CDS layer's SMART-link callback, for rendering cards without the hooks layer:
the link it returns names the order and the requirement to fix in ``appContext``."""

from __future__ import annotations

import json


def fake_smart_link(det, requirement):
    target = requirement.id if requirement is not None else "order"
    return {"label": "Fix in painpa", "url": "https://painpa.test/smart/launch", "type": "smart",
            "appContext": json.dumps({"ctx": f"{det.order_ref}#{target}"})}
