"""jobsim-inngest: inngest-py functions in jobsim's virtual time, with Inngest's semantics.

Install it and pass inngest-py functions (and optionally their ``inngest.Inngest``
client) to ``jobsim.Simulation``::

    sim = jobsim.Simulation([send_welcome, nightly_report], client, start="2025-03-01T00:00:00Z")

The plugin registers itself under the ``jobsim`` entry-point group; importing this
package does not import inngest-py (the entry point is loaded by every simulation).
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
