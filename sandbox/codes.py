"""Code systems and the few codes the sandbox uses (domain.md §2, §6; standards.md §4): shared by the
synthetic charts, the payer's PAS decisions and the EHR's order entry. ``cc`` builds a FHIR R4
CodeableConcept (R4 Datatypes §CodeableConcept) with the display below when there is one.

Coverage types are PHDSC Source of Payment Typology codes, which the policy engine routes on
(fhir_profiles/policies/medicare-programs-*.json): 1/12/121 traditional Medicare, 11x Medicare
Advantage, 5x private insurance.
"""

CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SOPT = "https://nahdo.org/sopt"
POS = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
X12_306 = "https://codesystem.x12.org/005010/306"
UTN_SYSTEM = "urn:painpa:sandbox:utn"

DISPLAY = {
    "62321": "Cervical/thoracic interlaminar epidural injection, with imaging guidance",
    "62323": "Lumbar/sacral interlaminar epidural injection, with imaging guidance",
    "64479": "Transforaminal epidural injection, cervical/thoracic, single level",
    "64480": "Transforaminal epidural injection, cervical/thoracic, each additional level",
    "64483": "Transforaminal epidural injection, lumbar/sacral, single level",
    "64484": "Transforaminal epidural injection, lumbar/sacral, each additional level",
    "63650": "Percutaneous implantation of neurostimulator electrode array, epidural",
    "63655": "Laminectomy for implantation of neurostimulator electrodes, plate/paddle, epidural",
    "63685": "Insertion or replacement of spinal neurostimulator pulse generator",
    "22510": "Percutaneous vertebroplasty, cervicothoracic",
    "22511": "Percutaneous vertebroplasty, lumbosacral",
    "22513": "Percutaneous vertebral augmentation (kyphoplasty), thoracic",
    "22514": "Percutaneous vertebral augmentation (kyphoplasty), lumbar",
    "97110": "Therapeutic exercise, each 15 minutes",
    "97161": "Physical therapy evaluation, low complexity",
    "98941": "Chiropractic manipulative treatment, spinal, 3-4 regions",
    "90791": "Psychiatric diagnostic evaluation",
    "77080": "DXA bone density study, axial skeleton",
    "M54.16": "Radiculopathy, lumbar region",
    "M54.17": "Radiculopathy, lumbosacral region",
    "M54.12": "Radiculopathy, cervical region",
    "M51.16": "Intervertebral disc disorders with radiculopathy, lumbar region",
    "M48.062": "Spinal stenosis, lumbar region with neurogenic claudication",
    "M54.50": "Low back pain, unspecified",
    "M96.1": "Postlaminectomy syndrome, not elsewhere classified",
    "B02.29": "Other postherpetic nervous system involvement",
    "G89.4": "Chronic pain syndrome",
    "M80.08XA": "Age-related osteoporosis with current pathological fracture, vertebra(e), initial encounter",
    "M84.58XA": "Pathological fracture in neoplastic disease, other site, initial encounter",
    "C90.00": "Multiple myeloma not having achieved remission",
    "72514-3": "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
    "97909-6": "Oswestry disability index score [ODI]",
    "82237-9": "Total score [NDI]",
    "5640": "ibuprofen",
    "25480": "gabapentin",
    "140587": "celecoxib",
    "21949": "cyclobenzaprine",
}


def cc(system: str, code: str, display: str | None = None) -> dict:
    """A CodeableConcept of one coding; its display is ``display``, else the one above, else none."""
    coding = {"system": system, "code": code}
    if display or DISPLAY.get(code):
        coding["display"] = display or DISPLAY[code]
    return {"coding": [coding], "text": coding.get("display", code)}
