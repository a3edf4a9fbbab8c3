"""Incident rehearsal: a topology under the platform workload, faults typed by an operator (or a
rehearsal file), a live dashboard with the capstone's alert rules, and a timeline report."""
