"""Personal data sealed and opened with each person's key: the key store and the blind-index key
behind one object, for the ingress (sealing what it publishes), the Data Layer (opening what it
answers) and the state applier (erasing)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from gridhook.contract.personal import INDEXED, blind_index, open_person, seal_person
from gridhook.contract.settings import PeopleSettings
from gridhook.state.keystore import KeyStore
from gridhook.state.people import PersonView


class PersonalData:
    """Seals, opens, finds and erases people's fields."""

    def __init__(self, keys: KeyStore, index_key: bytes) -> None:
        self.keys = keys
        self._index_key = index_key

    @classmethod
    def configured(cls, people: PeopleSettings, *, writer: bool = False) -> PersonalData | None:
        """Personal data sealed with the configured keys; None without them."""
        if people.master_keys is None or people.index_key is None:
            return None
        keys = KeyStore(people.keys_database_url, people.master_keys, writer=writer)
        return cls(keys, people.index_key)

    async def seal(
        self, person_id: str, fields: Mapping[str, str | None]
    ) -> dict[str, dict[str, str]]:
        """`fields` sealed with the person's key (made now if they have none): `sealed` texts
        and blind `indexes`."""
        key = await self.keys.data_key(person_id, create=True)
        assert key is not None, "a key is made when asked to"
        return seal_person(key, self._index_key, person_id, fields)

    async def reseal(
        self, person: PersonView, changes: Mapping[str, str]
    ) -> dict[str, dict[str, str]] | None:
        """The person's sealed fields and indexes with `changes` made; None when they are
        erased (their key is gone)."""
        key = await self.keys.data_key(person.person_id)
        if key is None or person.erased:
            return None
        changed = seal_person(key, self._index_key, person.person_id, changes)
        indexes = {k: v for k, v in person.indexes.items() if k not in changes} | changed["indexes"]
        return {"sealed": person.sealed | changed["sealed"], "indexes": indexes}

    def index(self, field: str, value: str) -> str:
        """The blind index a search for `value` in `field` looks up."""
        if field not in INDEXED:
            raise ValueError(f"{field} is not searchable")
        return blind_index(self._index_key, field, value)

    async def open(self, people: Sequence[PersonView]) -> dict[str, dict[str, str | None]]:
        """Each person's fields in the clear (None for every field of an erased person)."""
        keys = await self.keys.data_keys(p.person_id for p in people if not p.erased)
        return {
            person.person_id: open_person(
                keys.get(person.person_id), person.person_id, person.sealed
            )
            for person in people
        }

    async def erase(self, person_ids: Iterable[str]) -> int:
        """Delete the people's keys: every sealed copy of their fields is unreadable now."""
        return await self.keys.erase(sorted(set(person_ids)))
