"""respx's router checks on ``sim.http`` itself (``assert_all_called``, ``assert_all_mocked``, ``reset``,
``routes``), and a word for any other attribute of respx's router asked of it: it is ``sim.http.router``'s."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import respx
import respx.models

if TYPE_CHECKING:
    from ._http import HttpCalls, _Router


class RespxChecks:
    """What ``jobsim._http.HttpSink`` answers as a respx router does."""

    _router: _Router
    calls: HttpCalls

    def clear(self) -> None:
        raise NotImplementedError  # pragma: no cover -- HttpSink's

    def format_unmatched(self, sim: str = "sim") -> str:
        raise NotImplementedError  # pragma: no cover -- HttpSink's

    @property
    def routes(self) -> respx.models.RouteList:
        """The routes, in the order they are tried (respx's ``RouteList``: ``sim.http.routes["charge"]``)."""
        return self._router.routes

    def assert_all_called(self) -> None:
        """Assert that every route was called at least once (respx's check; routes never called are fine until
        asked); the failure lists the routes no request reached."""
        __tracebackhide__ = True
        idle = [route for route in self._router.routes if not route.called]
        if idle:
            lines = "\n".join(f"- {route.name + ': ' if route.name else ''}{route.pattern}" for route in idle)
            noun = "route was" if len(idle) == 1 else "routes were"
            raise AssertionError(f"jobsim: {len(idle)} {noun} never called:\n{lines}\n"
                                 f"({len(self.calls)} request(s) were sent: sim.http.calls lists them)")

    def assert_all_mocked(self) -> None:
        """Assert that a route or a mail provider answered every request (respx's check): none was unmatched."""
        __tracebackhide__ = True
        report = self.format_unmatched()
        if report:
            raise AssertionError(report)

    def reset(self) -> None:
        """Forget what was sent: ``calls``, ``unmatched`` and each route's own calls (``route.calls``,
        ``call_count``); the routes stay (respx's ``reset``)."""
        self._router.reset()
        self.clear()

    def __getattr__(self, name: str) -> Any:
        """Anything else of respx's router is ``sim.http.router``'s: said, rather than a bare AttributeError."""
        if not name.startswith("_") and hasattr(respx.MockRouter, name):
            raise AttributeError(f"sim.http has no {name!r}: respx's own router is sim.http.router "
                                 f"(sim.http.router.{name}); its routes are sim.http's")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
