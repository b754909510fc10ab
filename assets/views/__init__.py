"""Web pages of the asset domain: the register, vendors and engagements, the vendor-origin policy."""

from assets.views import assets, policy, vendors

blueprints = (assets.bp, vendors.bp, policy.bp)
