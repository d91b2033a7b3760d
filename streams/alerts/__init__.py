"""Alerts: leveled rules with hysteresis, resolutions, cause-derived ids, the rules' TOML
configuration and the alert records. Pure (docs/alerts.md).

- :mod:`.records`: the ``Alert`` record, ids derived from the cause, service alerts;
- :mod:`.config`: ``RulesConfig`` from the TOML file; :mod:`.rules`: the rule table;
- :mod:`.engine`: ``RuleEngine``, which turns exposure, LP and routing figures into alerts.
"""
