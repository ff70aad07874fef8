//! The identifiers Microsoft's APIs use, as the simulator recognises them. Written for the
//! simulator from Microsoft's documentation, not shared with the portal, so that the portal's
//! own checks are tested against an independent reading.

/// An Entra object id: a GUID in its 36-character form (`8-4-4-4-12` hex digits).
pub fn is_object_id(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A SharePoint site's Graph id: `{hostname},{site-collection-id},{web-id}`.
pub fn is_site_id(value: &str) -> bool {
    let mut parts = value.split(',');
    let (Some(host), Some(collection), Some(web), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    is_host_name(host) && is_object_id(collection) && is_object_id(web)
}

fn is_host_name(host: &str) -> bool {
    (1..=253).contains(&host.len())
        && host.contains('.')
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// An Azure VM's resource id,
/// `/subscriptions/{guid}/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines/{vm}`,
/// its fixed segments compared without regard to case as ARM does.
pub fn is_vm_resource_id(value: &str) -> bool {
    let Some(rest) = value.strip_prefix('/') else {
        return false;
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let [
        subs,
        subscription,
        groups,
        group,
        providers,
        namespace,
        kind,
        vm,
    ] = segments[..]
    else {
        return false;
    };
    let fixed = [
        (subs, "subscriptions"),
        (groups, "resourceGroups"),
        (providers, "providers"),
        (namespace, "Microsoft.Compute"),
        (kind, "virtualMachines"),
    ];
    fixed
        .iter()
        .all(|(seen, name)| seen.eq_ignore_ascii_case(name))
        && is_object_id(subscription)
        && is_resource_name(group)
        && is_resource_name(vm)
}

/// A resource group's or a VM's name: 1 to 90 letters, digits, `-`, `_`, `.`, `(`, `)`.
fn is_resource_name(name: &str) -> bool {
    (1..=90).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || "-_.()".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_as_microsoft_writes_them() {
        assert!(is_object_id("5f0c7a2e-1d3b-4c8e-9a61-2b7d4e8f0c11"));
        assert!(!is_object_id("5f0c7a2e1d3b4c8e9a612b7d4e8f0c11"));
        assert!(!is_object_id("5f0c7a2e-1d3b-4c8e-9a61-2b7d4e8f0c1g"));
        assert!(is_site_id(
            "contoso.sharepoint.com,5f0c7a2e-1d3b-4c8e-9a61-2b7d4e8f0c11,0c7f3e2d-5a4b-4e3f-8a1b-9c8d7e6f5a4b"
        ));
        assert!(!is_site_id("contoso.sharepoint.com,x,y"));
        let vm = "/subscriptions/5f0c7a2e-1d3b-4c8e-9a61-2b7d4e8f0c11/resourceGroups/ops/providers/Microsoft.Compute/virtualMachines/jump-01";
        assert!(is_vm_resource_id(vm));
        assert!(is_vm_resource_id(&vm.to_lowercase()));
        assert!(!is_vm_resource_id(&vm.replace("virtualMachines", "disks")));
        assert!(!is_vm_resource_id(&vm[1..]));
    }
}
