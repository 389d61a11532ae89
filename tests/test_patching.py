"""``jobsim._patching.SinkPatches``: patches applied by the first sink, restored exactly by the last."""

from jobsim._patching import SinkPatches


class Base:
    def inherited(self):
        return "base"


class Child(Base):
    def own(self):
        return "own"


def test_patches_apply_once_restore_exactly_and_the_last_sink_answers():
    patches, applied = SinkPatches(), []

    def triples():
        applied.append(1)
        return [(Child, "own", lambda self: "patched own"), (Child, "inherited", lambda self: "patched inherited")]

    first, second = object(), object()
    patches.install(first, triples)
    patches.install(second, triples)
    assert applied == [1]  # the second sink finds them applied
    assert (Child().own(), Child().inherited(), patches.sink()) == ("patched own", "patched inherited", second)
    # the library's own functions, to call with the instance
    assert patches.original(Child, "own")(Child()) == "own"
    assert patches.original(Child, "inherited")(Child()) == "base"
    patches.uninstall(second)
    assert (Child().own(), patches.sink()) == ("patched own", first)
    patches.uninstall(first)
    patches.uninstall(first)  # once more: nothing
    assert (Child().own(), Child().inherited(), patches.sink()) == ("own", "base", None)
    assert "inherited" not in Child.__dict__  # deleted again, not copied onto the class
