"""The night's rules, in one place: how a visit's status may change (`visit_states`), who may
change it (`authority`), and which device times are believed (`device_time`).

Every door a change comes in through (a nurse's phone, ``POST /nights/{date}/events``, a
partner's amend or cancel) goes through these modules, so the doors cannot disagree.
"""
