-- Access opened to a network address rather than to an account (an Azure VM's admin port
-- through just-in-time access) needs to know where the person connects from. The request
-- keeps the address or prefix they gave (canonical form, `203.0.113.7/32`); its grants are
-- opened to it. Null for every other kind of access.

alter table access_requests
    add column source_address text
        check (source_address is null or length(source_address) between 9 and 43);
