"""The asset domain's JSON API: the register and controls, vendors and engagements, compliance."""

from assets.api import assets, policy, vendors

blueprints = (assets.bp, vendors.bp, policy.bp)
