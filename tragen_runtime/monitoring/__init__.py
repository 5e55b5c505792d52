"""Monitoring generated from the configuration: what each configured metric and KPI measures
(`catalog`), the recording and alert rules (`recording`, `alerts`), Prometheus' scrape
configuration (`scrape`) and Alertmanager's routes (`routes`). Pure functions: the
`tragen_monitoring` role renders their output and checks it with promtool and amtool."""
