"""Capacity forecasting for on-sales: `seatline forecast`.

`inputs` and `prometheus` read and validate what the operator gives (access
logs or a Prometheus server, on-sales, measured capacity) with the standard
library and httpx only. `model` (statsmodels, numpy) and `chart`
(matplotlib) need the `forecast` extra, so import them only when a forecast
runs.
"""
