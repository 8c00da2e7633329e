"""core.fused.accepts_out: whether methods take ``out``, asked once per function."""

from deltaprop.core import fused
from deltaprop.core.activations import ReLU


class NoOut(ReLU):
    """A user activation whose forward takes no ``out``."""

    def forward(self, Z):  # type: ignore[no-untyped-def, override]
        return super().forward(Z)


class Callable:
    __hash__ = None  # type: ignore[assignment]  # unhashable: not cached, still answered

    def __call__(self, Z, out=None):  # type: ignore[no-untyped-def]
        return Z


def test_accepts_out_per_method_and_cached() -> None:
    relu, user = ReLU(), NoOut()
    assert fused.accepts_out(relu.forward, relu.backward)
    assert not fused.accepts_out(user.forward, user.backward)
    assert fused.accepts_out(ReLU().forward)  # another instance: the function's cached answer
    assert fused._takes_out_cached.cache_info().hits >= 1
    assert fused.accepts_out(Callable())
