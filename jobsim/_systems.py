"""The seven built-in profiles: Inngest, BullMQ, Trigger.dev, Quirrel, Agenda, node-cron, Vercel Cron.

Each profile is built by a function whose docstring states its rules and where
they come from (``reference/semantics.md`` section, and the source it cites); the
docstring becomes ``profile.doc`` (``jobsim profiles NAME`` prints it). Where the
reference says "not verified", the docstring says what jobsim chose, and a test
pins the choice.

Events (``on=``) stand for each system's way to start a job with a payload:
Inngest events, BullMQ ``queue.add``, Trigger.dev ``tasks.trigger``, Quirrel
``queue.enqueue``, Agenda ``agenda.now``. node-cron and Vercel Cron have only cron.

The builders live by kind of system: ``_systems_durable.py`` (Inngest, Trigger.dev),
``_systems_queues.py`` (BullMQ, Quirrel, Agenda) and ``_systems_cron.py`` (node-cron, Vercel Cron);
``_systems_retries.py`` reads ``retries=`` for each, and ``_systems_options.py`` holds the options of the
profiles that take some (Agenda's, node-cron's).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable

from ._profiles import Profile
from ._systems_cron import node_cron, vercel_hobby, vercel_pro
from ._systems_durable import inngest, trigger_dev
from ._systems_queues import agenda, bullmq, quirrel


def _documented(build: Callable[[], Profile]) -> Profile:
    return dataclasses.replace(build(), doc=inspect.cleandoc(build.__doc__ or ""))


INNGEST = _documented(inngest)
BULLMQ = _documented(bullmq)
TRIGGER_DEV = _documented(trigger_dev)
QUIRREL = _documented(quirrel)
AGENDA = _documented(agenda)
NODE_CRON_PROFILE = _documented(node_cron)
VERCEL_CRON = _documented(vercel_pro)
VERCEL_CRON_HOBBY = _documented(vercel_hobby)

BUILTIN = (INNGEST, BULLMQ, TRIGGER_DEV, QUIRREL, AGENDA, NODE_CRON_PROFILE, VERCEL_CRON, VERCEL_CRON_HOBBY)
SEVEN = ("inngest", "bullmq", "trigger.dev", "quirrel", "agenda", "node-cron", "vercel-cron")
