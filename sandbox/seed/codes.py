"""Code systems and the few codes the synthetic charts use (domain.md §2, §6; standards.md §4).

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

# Order catalog for the EHR's order entry: family → (code, label, add-on code for more levels).
ORDERABLES = {
    "esi": [
        ("64483", "Transforaminal ESI, lumbar/sacral", "64484"),
        ("64479", "Transforaminal ESI, cervical/thoracic", "64480"),
        ("62323", "Interlaminar ESI, lumbar/sacral", None),
        ("62321", "Interlaminar ESI, cervical/thoracic", None),
    ],
    "scs": [
        ("63650", "SCS percutaneous leads (trial or permanent)", None),
        ("63655", "SCS paddle leads via laminectomy", None),
        ("63685", "SCS pulse generator insertion", None),
    ],
    "pva": [
        ("22514", "Kyphoplasty, lumbar", None),
        ("22513", "Kyphoplasty, thoracic", None),
        ("22511", "Vertebroplasty, lumbosacral", None),
        ("22510", "Vertebroplasty, cervicothoracic", None),
    ],
}

SETTINGS = {  # place of service offered on the order screen
    "11": "Office",
    "24": "Ambulatory surgical center",
    "22": "Hospital outpatient department (on campus)",
    "19": "Hospital outpatient department (off campus)",
}
