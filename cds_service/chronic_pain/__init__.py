"""Chronic pain management (G3002/G3003, domain.md §4): this calendar month's status for a patient
with chronic pain, as a CDS card on ``patient-view`` / ``encounter-start`` (:mod:`.hook`, :mod:`.card`,
:mod:`.queries`) and as a page of the SMART app with the forms that complete the month (:mod:`.page`).
It stands above both the CDS hooks and the SMART app, and uses both; neither knows it."""
