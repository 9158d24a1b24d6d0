"""The sandbox EHR's screens (patient list, chart, order entry) and the CDS Hooks calls they make:
patient-view when a chart opens, order-select and order-sign from the order screen."""
