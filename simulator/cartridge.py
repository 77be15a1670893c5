"""The cartridge: fitted, in use, spent; its ids (never reused on one pen), its removal and
insertion."""

from __future__ import annotations

from protocol import (
    CartridgeState,
    EventCode,
    Fault,
)

from .config import U16, U32, cartridge_id_ok
from .errors import InjectError
from .latch import Latch


class Cartridge(Latch):
    """The cartridge slot."""

    def _new_cartridge_id(self) -> int:
        while True:
            if self._cartridge_ids is not None:
                cid = self._cartridge_ids()
            else:
                cid = self._rng.randrange(1, U32 + 1)
            if cartridge_id_ok(cid) and cid not in self._used_ids and cid != self.cartridge_id:
                return cid

    def _end_session_cartridge(self) -> None:
        if self.cartridge_state == CartridgeState.IN_USE:
            self.cartridge_state = CartridgeState.SPENT

    def remove_cartridge(self) -> None:
        """Pull the cartridge out. While RUNNING this raises CARTRIDGE_REMOVED."""
        if self.cartridge_state == CartridgeState.NONE:
            raise InjectError("There is no cartridge to remove.")
        cid = self.cartridge_id
        self._removed_id = cid
        self.cartridge_id = 0
        self.cartridge_state = CartridgeState.NONE
        self._record("INJECT", what="remove_cartridge", cartridge_id=cid)
        self._event(EventCode.CARTRIDGE_REMOVED, cid & U16, cartridge_id=cid)
        if self._running:
            self._raise_fault(Fault.CARTRIDGE_REMOVED)
        self._check_conditions()
        self._flush()

    def insert_cartridge(self, fresh: bool = True, cartridge_id: int | None = None) -> int:
        """Insert a cartridge and return its id.

        fresh=True: a new cartridge with a random id. fresh=False: the last one removed is put
        back (SPENT if it was used). An explicit `cartridge_id` is SPENT if this pen used it.
        """
        if self.cartridge_state != CartridgeState.NONE:
            raise InjectError("A cartridge is already inserted; remove it first.")
        if cartridge_id is not None:
            if isinstance(cartridge_id, bool) or not isinstance(cartridge_id, int):
                raise InjectError("A cartridge id must be a whole number.")
            if not 1 <= cartridge_id <= U32:
                raise InjectError("A cartridge id must be from 1 to 4294967295.")
            cid = cartridge_id
        elif fresh:
            cid = self._new_cartridge_id()
        else:
            if self._removed_id is None:
                raise InjectError("No cartridge has been removed, so none can be put back.")
            cid = self._removed_id
        self.cartridge_id = cid
        self.cartridge_state = (
            CartridgeState.SPENT if cid in self._used_ids else CartridgeState.FRESH
        )
        self._record("INJECT", what="insert_cartridge", cartridge_id=cid)
        self._event(
            EventCode.CARTRIDGE_INSERTED,
            cid & U16,
            cartridge_id=cid,
            cartridge_state=self.cartridge_state.name,
        )
        self._check_conditions()
        self._flush()
        return cid

    def fit_fresh_cartridge(self) -> int:
        """Take out the cartridge that is in (if any) and fit a fresh one; returns its id.

        Refused while the needle runs (stop it first): a swap is done at rest.
        """
        if self._running:
            raise InjectError("Stop the needle before fitting a fresh cartridge.")
        if self.cartridge_state != CartridgeState.NONE:
            self.remove_cartridge()
        return self.insert_cartridge(fresh=True)
