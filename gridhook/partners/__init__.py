"""Clients of the partners' APIs the consumers call: Light and WattShift."""
