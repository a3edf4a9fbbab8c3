"""The whole platform workload and the services that span both planes."""
