"""Free-text procedure notes for the documentation-decay tests: ``NOTE``, a follow-up before a lumbar
ESI, and ``FRESH``, a visit written from scratch after therapy (different words, same patient)."""

from __future__ import annotations

NOTE = ("Patient seen for follow up of lumbar radiculopathy. Pain radiates down the left leg to the foot with numbness "
        "in the L5 distribution. Straight leg raise positive on the left at forty degrees. Strength five of five "
        "throughout. Reflexes symmetric. Continues home exercise program daily and ibuprofen as needed. Plan left L5 "
        "transforaminal epidural steroid injection under fluoroscopy.")
FRESH = ("Returns after physical therapy. Leg pain now intermittent, six of ten, worse with sitting. New tingling in "
         "the right calf since last week. Exam shows reduced ankle reflex on the right and mild weakness of great toe "
         "extension. Reviewed MRI with the patient: right paracentral protrusion at L4-5. Discussed options including "
         "injection versus waiting; patient prefers to continue therapy two more weeks.")
