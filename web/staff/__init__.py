"""Organisation set-up for administrators and managers: bootstrap, staff, service users.

``invites`` issues and redeems staff and own-account invitations (the family invitation
machinery, generalised); ``service_users`` creates, edits and archives service users;
``views`` and ``api`` are the page and HTTP adapters over them.
"""
