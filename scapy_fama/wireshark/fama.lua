--[[
fama.lua: a Wireshark dissector for FAMA signalling (draft-bernardos-dmm-cmip), from scapy-fama.

Theory of operation
-------------------
Wireshark's Mobile IPv6 dissector (packet-mip6.c) walks the options of a Mobility Header and hands
each one, Type and Length included, to the dissector registered for its type in the "mip6.option"
table. This plugin takes the RFC 4866 types of that table (11 CGA Parameters Request, 12 CGA
Parameters, 13 Signature, 14 Permanent Home Keygen Token, 15 Care-of Test Init, 16 Care-of Test)
and wraps type 5 (Binding Authorization Data: Wireshark's own dissector runs first, this plugin
adds where the BAD sits and what it covers):

    mip6 --option 5--> Wireshark's BAD dissector, then the BAD's position
         --option 11..16--> this plugin: exact lengths, the CGA structure, Signature, PHKT

A CGA Parameters block longer than 255 bytes travels as back-to-back type-12 options (RFC 4866
§5.1). Every option is dissected on its own, so the plugin looks at the whole Mobility Header to
place it: the Mobility Header's protocol item ("mipv6") holds its bytes, and the option's offset
in the frame minus the header's gives the option's MH offset. From there the options are laid out
as RFC 6275 §6.2 frames them, consecutive type-12 options form one block, and the last piece of a
block shows the block reassembled (RFC 3972 §3: modifier, subnet prefix, collision count, DER
SubjectPublicKeyInfo with its algorithm and key size, RFC 4581 extension fields):

    MH offset 12            267            301
    | 12 | 255 | piece 1 ... | 12 | 34 | piece 2 | 13 | 128 | signature | ... | 5 | 12 | BAD |
      piece 1 of 2             piece 2 of 2: the block reassembled (289 bytes)

A postdissector names the Status of every Binding Acknowledgement as IANA's registry does
(RFC 6275 §6.1.8, RFC 4866 §5.7): Wireshark 4.0 gives 147 and 148, the statuses a FAMA DAR refuses
a PHKT or a CGA BU with, obsolete PMIPv6-draft names ("No home address for this NAI", "Invalid
Time Stamp Option"). It adds the name to the Info column and, for a refusal (128 and above), a
Response Code expert info:

    mip6 --mip6.ba.status 148--> "FAMA Binding Acknowledgement: status 148, CGA and signature
                                  verification failed (RFC 4866 §5.7)"; fama.ba.status; fama.ba.refused

The Status of every Binding Error gets its name (RFC 6275 §6.1.9: 1 unknown binding for the Home
Address destination option, 2 unrecognized MH Type value) the same way, in the tree
(fama.be.status) and the Info column; a Binding Error is a report, not a refusal: no expert info.

The Care-of Test message (RFC 6275 §6.1.6: Care-of Nonce Index at MH offset 6, Care-of Init
Cookie at 8, Care-of Keygen Token at 16) is the return-routability half a FAMA MN runs for its
CoA; Wireshark 4.0 shows its token under the Home Test's field (mip6.hot.token, "Home Keygen
Token"). The postdissector shows it again as what it is, the field the Care-of Test option's token
has (fama.cot.token), wherever a token follows a Care-of Init Cookie (mip6.cot.cookie) directly:

    mip6 --mip6.cot.cookie at N, mip6.hot.token at N+8--> "FAMA Care-of Test: Care-of Keygen
                                                          Token ..."; fama.cot.token

The placement rules of RFC 4866 §5.1/§5.2 and RFC 6275 §6.2.7 (back-to-back pieces, 255-byte
pieces but the last, the Signature right after the last piece, the BAD last and at 8n+2) become
expert infos with the same sentences as scapy-fama's layers.

A second postdissector verifies the checksum of every Mobility Header (RFC 6275 §6.1.1: the
RFC 1071 sum over an IPv6 pseudo-header and the MH, checksum field zero; a receiver silently
discards a MH whose checksum is wrong, §9.2). Wireshark 4.0 shows the checksum unverified. The
pseudo-header's addresses are those the mobility layer sees: the source is the Home Address
option's address when the MH's IPv6 header has one, the destination the type 2 Routing header's
address while it has a segment left (Wireshark's IPv6 dissector makes the same swap for its own
pseudo-headers). The frame's fields are walked in tree order, so each MH takes the addresses of
the IPv6 header it follows, through extension headers, reassembled fragments, a tunnel or the
packet an ICMPv6 error quotes:

    ipv6.src CoA, ipv6.dst DAR, ipv6.opt.mipv6.home_address HoA, mipv6 BU
        --> sum(HoA | DAR | MH length | 0 0 0 135 | BU, checksum 0) --> fama.mh.checksum.status
            Good or Bad (with a fama.mh.checksum.bad expert info naming both values)

A MH not wholly in the packet, or behind a routing header of another type with segments left
(whose final destination is not read here), is Unverified. Beyond the checksum the plugin
verifies nothing (no hash, no RSA); fama-analyze --annotate writes those verdicts as packet
comments. Malformed bytes (a length that contradicts the option's definition, a block or key cut
short, an extension field running past the block) show as Malformed expert infos; every read is
bounded by the bytes captured, so no input raises a Lua error.

Display filter fields are under "fama.", e.g. fama.cga.collision_count, fama.cga.key_bits,
fama.phkt.present, fama.bad.last, fama.ba.status, fama.be.status, fama.mh.checksum.status.
]]

-- The plugin's own version (scapy-fama reads it from this line: fama-wireshark --version).
local VERSION = "1.5.0"

set_plugin_info({
    version = VERSION,
    description = "FAMA signalling: RFC 4866 mobility options, CGA Parameters, PHKT, BAD position, MH checksum",
    repository = "scapy-fama",
})

local fama = Proto("fama", "FAMA signalling")

-- IANA "Mobility Options" names of the types this plugin meets.
local OPTION_NAMES = {
    [0] = "Pad1", [1] = "PadN", [2] = "Binding Refresh Advice", [3] = "Alternate Care-of Address",
    [4] = "Nonce Indices", [5] = "Binding Authorization Data", [11] = "CGA Parameters Request",
    [12] = "CGA Parameters", [13] = "Signature", [14] = "Permanent Home Keygen Token",
    [15] = "Care-of Test Init", [16] = "Care-of Test",
}
-- RFC 4581 §3 "CGA Extension Type" registry.
local EXTENSION_NAMES = {
    [0x0012] = "Multi-Prefix (RFC 5535)", [0xFFFD] = "Experimental", [0xFFFE] = "Experimental",
    [0xFFFF] = "Experimental",
}
-- IANA "Status Codes" of the Binding Acknowledgement (RFC 6275 §6.1.8, RFC 4866 §5.7), named as
-- scapy_fama.layers.mh.BA_STATUS names them (tests/wireshark compare the two tables).
local BA_STATUS = {
    [0] = "Binding Update accepted", [1] = "Accepted but prefix discovery necessary",
    [2] = "GRE_KEY_OPTION_NOT_REQUIRED", [3] = "GRE_TUNNELING_BUT_TLV_HEADER_NOT_SUPPORTED",
    [4] = "MCOA NOTCOMPLETE", [5] = "MCOA RETURNHOME WO/NDP",
    [6] = "PBU_ACCEPTED_TB_IGNORED_SETTINGSMISMATCH", [128] = "Reason unspecified",
    [129] = "Administratively prohibited", [130] = "Insufficient resources",
    [131] = "Home registration not supported", [132] = "Not home subnet",
    [133] = "Not home agent for this mobile node", [134] = "Duplicate Address Detection failed",
    [135] = "Sequence number out of window", [136] = "Expired home nonce index",
    [137] = "Expired care-of nonce index", [138] = "Expired nonces",
    [139] = "Registration type change disallowed", [140] = "Mobile Router Operation not permitted",
    [141] = "Invalid Prefix", [142] = "Not Authorized for Prefix", [143] = "Forwarding Setup failed",
    [144] = "MIPV6-ID-MISMATCH", [145] = "MIPV6-MESG-ID-REQD", [146] = "MIPV6-AUTH-FAIL",
    [147] = "Permanent home keygen token unavailable", [148] = "CGA and signature verification failed",
    [149] = "Permanent home keygen token exists", [150] = "Non-null home nonce index expected",
    [151] = "SERVICE_AUTHORIZATION_FAILED", [152] = "PROXY_REG_NOT_ENABLED",
    [153] = "NOT_LMA_FOR_THIS_MOBILE_NODE", [154] = "MAG_NOT_AUTHORIZED_FOR_PROXY_REG",
    [155] = "NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX", [156] = "TIMESTAMP_MISMATCH",
    [157] = "TIMESTAMP_LOWER_THAN_PREV_ACCEPTED", [158] = "MISSING_HOME_NETWORK_PREFIX_OPTION",
    [159] = "BCE_PBU_PREFIX_SET_DO_NOT_MATCH", [160] = "MISSING_MN_IDENTIFIER_OPTION",
    [161] = "MISSING_HANDOFF_INDICATOR_OPTION", [162] = "MISSING_ACCESS_TECH_TYPE_OPTION",
    [163] = "GRE_KEY_OPTION_REQUIRED", [164] = "MCOA MALFORMED", [165] = "MCOA NON-MCOA BINDING EXISTS",
    [166] = "MCOA PROHIBITED", [167] = "MCOA UNKNOWN COA", [168] = "MCOA BULK REGISTRATION PROHIBITED",
    [169] = "MCOA SIMULTANEOUS HOME AND FOREIGN PROHIBITED",
    [170] = "NOT_AUTHORIZED_FOR_IPV4_MOBILITY_SERVICE", [171] = "NOT_AUTHORIZED_FOR_IPV4_HOME_ADDRESS",
    [172] = "NOT_AUTHORIZED_FOR_IPV6_MOBILITY_SERVICE",
    [173] = "MULTIPLE_IPV4_HOME_ADDRESS_ASSIGNMENT_NOT_SUPPORTED", [174] = "Invalid Care-of Address",
    [175] = "INVALID_MOBILE_NODE_GROUP_IDENTIFIER", [176] = "REINIT_SA_WITH_HAC",
    [177] = "NOT_AUTHORIZED_FOR_DELEGATED_MNP", [178] = "REQUESTED_DMNP_IN_USE",
}
-- RFC 6275 §6.1.9: the Binding Error's Status, named as scapy_fama.layers.mh.BE_STATUS names it.
local BE_STATUS = {
    [1] = "Unknown binding for Home Address destination option", [2] = "Unrecognized MH Type value",
}
local REFUSED = 128 -- RFC 6275 §6.1.8: a Status of 128 or more rejects the Binding Update
-- A checksum's status, numbered and named as Wireshark's own checksum status fields are (proto_checksum_vals).
local BAD_SUM, GOOD_SUM, UNVERIFIED = 0, 1, 2
local CHECKSUM_STATUS = { [BAD_SUM] = "Bad", [GOOD_SUM] = "Good", [UNVERIFIED] = "Unverified" }
local MH_PROTOCOL = 135 -- the pseudo-header's Next Header (RFC 6275 §6.1.1)
local DRAFT_MH_PROTOCOL = 62 -- the Mobility Header's number in the drafts before RFC 3775; Wireshark shows it too
-- RFC 6275 §6.1: where the options start, by MH type (scapy_fama.wire holds the same table for
-- Python; tests/wireshark compare this plugin with the layers on every capture).
local OPTIONS_START = { [0] = 8, [1] = 16, [2] = 16, [3] = 24, [4] = 24, [5] = 12, [6] = 12, [7] = 24 }
-- RFC 4866 §5.4-§5.6: the only data length each of these types allows.
local EXACT_LENGTH = { [11] = 0, [15] = 0, [16] = 8 }
local CGA_PARAMS, SIGNATURE, PHKT, BAD = 12, 13, 14, 5
local PIECE_MAX = 255 -- RFC 4866 §5.1: the Option Length is 8 bits
local CGA_FIXED = 25 -- RFC 3972 §3: modifier 16, subnet prefix 8, collision count 1

local ALGORITHMS = { ["1.2.840.113549.1.1.1"] = "rsaEncryption", ["1.2.840.10045.2.1"] = "id-ecPublicKey" }
local CURVE_BITS = {
    ["1.2.840.10045.3.1.7"] = 256, ["1.3.132.0.10"] = 256, ["1.3.132.0.34"] = 384, ["1.3.132.0.35"] = 521,
}

local f = {
    type = ProtoField.uint8("fama.opt.type", "Option Type", base.DEC, OPTION_NAMES),
    length = ProtoField.uint8("fama.opt.length", "Option Length", base.DEC),
    offset = ProtoField.uint16("fama.opt.offset", "MH offset", base.DEC),
    data = ProtoField.bytes("fama.opt.data", "Option Data"),
    piece = ProtoField.uint8("fama.cga.piece", "Piece", base.DEC),
    pieces = ProtoField.uint8("fama.cga.pieces", "Pieces", base.DEC),
    piece_lengths = ProtoField.string("fama.cga.piece_lengths", "Piece lengths"),
    block_offset = ProtoField.uint16("fama.cga.block_offset", "Block starts at MH offset", base.DEC),
    cga_length = ProtoField.uint16("fama.cga.length", "CGA Parameters length", base.DEC),
    modifier = ProtoField.bytes("fama.cga.modifier", "Modifier"),
    prefix = ProtoField.ipv6("fama.cga.prefix", "Subnet Prefix"),
    collision_count = ProtoField.uint8("fama.cga.collision_count", "Collision Count", base.DEC),
    key = ProtoField.bytes("fama.cga.key", "Public Key (DER SubjectPublicKeyInfo)"),
    key_length = ProtoField.uint16("fama.cga.key_length", "Public Key length", base.DEC),
    key_oid = ProtoField.string("fama.cga.key_oid", "Algorithm OID"),
    key_algorithm = ProtoField.string("fama.cga.key_algorithm", "Algorithm"),
    key_bits = ProtoField.uint16("fama.cga.key_bits", "Key size (bits)", base.DEC),
    ext = ProtoField.none("fama.cga.ext", "Extension Field"),
    ext_type = ProtoField.uint16("fama.cga.ext.type", "Extension Type", base.HEX, EXTENSION_NAMES),
    ext_length = ProtoField.uint16("fama.cga.ext.length", "Extension Data Length", base.DEC),
    ext_data = ProtoField.bytes("fama.cga.ext.data", "Extension Data"),
    requested = ProtoField.bool("fama.cga.requested", "CGA Parameters requested"),
    sig = ProtoField.bytes("fama.sig", "Signature"),
    sig_bits = ProtoField.uint16("fama.sig.bits", "Signer's modulus (bits)", base.DEC),
    sig_covers = ProtoField.uint16("fama.sig.covers", "Signed MH bytes", base.DEC),
    phkt_present = ProtoField.bool("fama.phkt.present", "PHKT present"),
    phkt = ProtoField.bytes("fama.phkt.ciphertext", "PHKT ciphertext"),
    phkt_bits = ProtoField.uint16("fama.phkt.bits", "MN's modulus (bits)", base.DEC),
    coti = ProtoField.bool("fama.coti.present", "Care-of Test Init present"),
    cot_token = ProtoField.bytes("fama.cot.token", "Care-of Keygen Token"),
    bad_offset = ProtoField.uint16("fama.bad.offset", "BAD at MH offset", base.DEC),
    bad_last = ProtoField.bool("fama.bad.last", "BAD is the last option"),
    bad_covers = ProtoField.uint16("fama.bad.covers", "Authenticated MH bytes", base.DEC),
    ba_status = ProtoField.uint8("fama.ba.status", "Status", base.DEC, BA_STATUS),
    be_status = ProtoField.uint8("fama.be.status", "Binding Error Status", base.DEC, BE_STATUS),
    checksum_status = ProtoField.uint8("fama.mh.checksum.status", "MH Checksum Status", base.DEC, CHECKSUM_STATUS),
    checksum_computed = ProtoField.uint16("fama.mh.checksum.computed", "Computed MH Checksum", base.HEX),
    pseudo_src = ProtoField.ipv6("fama.mh.pseudo_src", "Pseudo-header Source"),
    pseudo_dst = ProtoField.ipv6("fama.mh.pseudo_dst", "Pseudo-header Destination"),
}
fama.fields = {
    f.type, f.length, f.offset, f.data, f.piece, f.pieces, f.piece_lengths, f.block_offset,
    f.cga_length, f.modifier, f.prefix, f.collision_count, f.key, f.key_length, f.key_oid,
    f.key_algorithm, f.key_bits, f.ext, f.ext_type, f.ext_length, f.ext_data, f.requested, f.sig,
    f.sig_bits, f.sig_covers, f.phkt_present, f.phkt, f.phkt_bits, f.coti, f.cot_token,
    f.bad_offset, f.bad_last, f.bad_covers, f.ba_status, f.be_status, f.checksum_status, f.checksum_computed,
    f.pseudo_src, f.pseudo_dst,
}

local ex = {
    malformed = ProtoExpert.new("fama.malformed", "Malformed FAMA option", expert.group.MALFORMED,
        expert.severity.ERROR),
    framing = ProtoExpert.new("fama.framing", "FAMA option placement", expert.group.PROTOCOL,
        expert.severity.WARN),
    cut = ProtoExpert.new("fama.cut", "Option cut short by the capture", expert.group.MALFORMED,
        expert.severity.WARN),
    reassembled = ProtoExpert.new("fama.reassembled", "CGA Parameters reassembled", expert.group.REASSEMBLE,
        expert.severity.CHAT),
    refused = ProtoExpert.new("fama.ba.refused", "Binding Update refused", expert.group.RESPONSE_CODE,
        expert.severity.WARN),
    checksum = ProtoExpert.new("fama.mh.checksum.bad", "Bad Mobility Header checksum", expert.group.CHECKSUM,
        expert.severity.ERROR),
}
fama.experts = { ex.malformed, ex.framing, ex.cut, ex.reassembled, ex.refused, ex.checksum }

local mipv6_field = Field.new("mipv6")
local ba_status_field = Field.new("mip6.ba.status")
local be_status_field = Field.new("mip6.be.status")
local cot_cookie_field = Field.new("mip6.cot.cookie")
local keygen_token_field = Field.new("mip6.hot.token") -- the HoT's, and Wireshark's for the CoT's too
local options_table = DissectorTable.get("mip6.option")
local wireshark_bad = options_table:get_dissector(BAD)

-- ---------------------------------------------------------------- the Mobility Header around an option

-- Options as RFC 6275 §6.2 frames them, from the MH bytes carried (a Lua string): a list of
-- {type, offset, len (nil for Pad1), size}. Stops where a length byte is missing.
local function layout(mh)
    local start = OPTIONS_START[mh:byte(3)]
    if start == nil then
        return nil
    end
    local stop = math.min(8 * (mh:byte(2) + 1), #mh)
    local options, pos = {}, start
    while pos < stop do
        local otype = mh:byte(pos + 1)
        if otype == 0 then
            options[#options + 1] = { type = 0, offset = pos, size = 1 }
            pos = pos + 1
        elseif pos + 2 > stop then
            break
        else
            local len = mh:byte(pos + 2)
            options[#options + 1] = { type = otype, offset = pos, len = len, size = 2 + len }
            pos = pos + 2 + len
        end
    end
    return options
end

-- Frames as scapy-fama's layers see them: runs of back-to-back type-12 options become one frame.
local function frames_of(options)
    local frames = {}
    for i, o in ipairs(options) do
        local last = frames[#frames]
        if o.type == CGA_PARAMS and last and last.type == CGA_PARAMS and last.upto == i - 1 then
            last.pieces[#last.pieces + 1] = o
            last.upto = i
        else
            frames[#frames + 1] = { type = o.type, first = i, upto = i, pieces = { o }, offset = o.offset }
        end
        o.frame = #frames
    end
    return frames
end

-- The MH holding the option in ``tvb``: {bytes, options, frames, index of this option}, or nil
-- when the option cannot be placed (the MH not found or cut before the option, an MH type whose
-- options start at an offset RFC 6275 does not give).
local function context(tvb)
    local here = tvb:offset()
    local holder
    for _, fi in ipairs({ mipv6_field() }) do
        if fi.offset <= here and here < fi.offset + fi.len then
            holder = fi
        end
    end
    if holder == nil then
        return nil
    end
    local ok, range = pcall(function() return holder.range end) -- fails when the MH is cut short
    if not ok or range == nil or range:len() < 8 then
        return nil
    end
    local mh = range:bytes():raw()
    local options = layout(mh)
    if options == nil then
        return nil
    end
    local frames = frames_of(options)
    for i, o in ipairs(options) do
        if o.offset == here - holder.offset then
            return { mh = mh, options = options, frames = frames, index = i }
        end
    end
    return nil
end

-- ---------------------------------------------------------------- DER, read just far enough to name a key

-- Tag and content bounds of the DER element at 1-based position ``pos`` of ``s`` (before ``stop``):
-- tag, content start, content end (exclusive); nil when the header is not minimal DER or runs out.
local function der(s, pos, stop)
    if pos + 1 >= stop then
        return nil
    end
    local tag, first = s:byte(pos), s:byte(pos + 1)
    local length, content
    if first < 0x80 then
        length, content = first, pos + 2
    else
        local count = first - 0x80
        if count < 1 or count > 4 or pos + 1 + count >= stop then
            return nil
        end
        length = 0
        for i = 1, count do
            length = length * 256 + s:byte(pos + 1 + i)
        end
        if length < 0x80 or s:byte(pos + 2) == 0 then
            return nil
        end
        content = pos + 2 + count
    end
    if content + length > stop then
        return nil
    end
    return tag, content, content + length
end

local function oid_text(s, from, to)
    if from >= to then
        return nil
    end
    local first = s:byte(from)
    local arc = math.min(2, math.floor(first / 40)) -- X.690 §8.19.4: the first two arcs share a byte
    local parts = { tostring(arc), tostring(first - 40 * arc) }
    local value = 0
    for i = from + 1, to - 1 do
        local b = s:byte(i)
        value = value * 128 + b % 128
        if b < 0x80 then
            parts[#parts + 1] = tostring(value)
            value = 0
        end
    end
    return table.concat(parts, ".")
end

-- Bits of a DER INTEGER's magnitude (content bytes [from, to)).
local function integer_bits(s, from, to)
    while from < to and s:byte(from) == 0 do
        from = from + 1
    end
    if from >= to then
        return 0
    end
    local top, bits = s:byte(from), 0
    while top > 0 do
        top, bits = math.floor(top / 2), bits + 1
    end
    return 8 * (to - from - 1) + bits
end

-- Algorithm OID, its name and the key size in bits of the SubjectPublicKeyInfo in s[from, to);
-- a sentence saying what is wrong when it cannot be read.
local function key_info(s, from, to)
    local tag, body, stop = der(s, from, to)
    if tag ~= 0x30 then
        return nil, "not a DER SEQUENCE"
    end
    local atag, abody, astop = der(s, body, stop)
    if atag ~= 0x30 then
        return nil, "no AlgorithmIdentifier SEQUENCE"
    end
    local otag, obody, ostop = der(s, abody, astop)
    if otag ~= 0x06 then
        return nil, "no algorithm OID"
    end
    local oid = oid_text(s, obody, ostop)
    local info = { oid = oid, name = ALGORITHMS[oid] or oid }
    if info.name == "rsaEncryption" then
        local btag, bbody, bstop = der(s, astop, stop)
        if btag ~= 0x03 or bbody >= bstop then
            return nil, "no subjectPublicKey BIT STRING"
        end
        local ktag, kbody, kstop = der(s, bbody + 1, bstop) -- after the unused-bits byte
        local ntag, nbody, nstop
        if ktag == 0x30 then
            ntag, nbody, nstop = der(s, kbody, kstop)
        end
        if ntag ~= 0x02 then
            return nil, "no RSAPublicKey modulus"
        end
        info.bits = integer_bits(s, nbody, nstop)
    elseif info.name == "id-ecPublicKey" then
        local ctag, cbody, cstop = der(s, ostop, astop)
        if ctag == 0x06 then
            info.bits = CURVE_BITS[oid_text(s, cbody, cstop)]
        end
    end
    return info
end

-- ---------------------------------------------------------------- CGA Parameters (RFC 3972 §3)

local function prefix_text(s, at)
    local words = {}
    for i = 0, 3 do
        words[#words + 1] = string.format("%x", s:byte(at + 2 * i) * 256 + s:byte(at + 2 * i + 1))
    end
    return table.concat(words, ":") .. "::"
end

-- The CGA Parameters structure of ``data`` (a Lua string), its items on ``view`` (a Tvb whose
-- byte 0 is the block's first byte; nil for an empty block) under ``tree``.
local function cga_structure(tree, data, view)
    local n = #data
    if n == 0 then
        tree:add_proto_expert_info(ex.malformed, "empty CGA Parameters (RFC 3972 §3)")
        return
    end
    local node = tree:add(fama, view(0, n), string.format("CGA Parameters (RFC 3972 §3), %d bytes", n))
    node:add(f.cga_length, view(0, n), n):set_generated()
    if n < CGA_FIXED then
        node:add_proto_expert_info(ex.malformed, string.format(
            "CGA Parameters of %d bytes: modifier, subnet prefix and collision count alone take %d", n, CGA_FIXED))
        return
    end
    node:add(f.modifier, view(0, 16))
    node:add(f.prefix, view(16, 8), Address.ipv6(prefix_text(data, 17))):append_text("/64")
    local cc = node:add(f.collision_count, view(24, 1))
    if data:byte(25) > 2 then
        cc:add_proto_expert_info(ex.malformed, string.format(
            "Collision Count %d: RFC 3972 §3 allows 0, 1 or 2", data:byte(25)))
    end
    local tag, _, stop = der(data, CGA_FIXED + 1, n + 1)
    local key_end = (tag == 0x30) and stop or n + 1 -- unreadable: every byte left is the key
    local key_length = key_end - CGA_FIXED - 1
    if key_length == 0 then
        node:add_proto_expert_info(ex.malformed, "no public key after the collision count")
        return
    end
    local key = node:add(f.key, view(CGA_FIXED, key_length))
    key:add(f.key_length, view(CGA_FIXED, key_length), key_length):set_generated()
    local info, problem = key_info(data, CGA_FIXED + 1, key_end)
    if info == nil then
        key:add_proto_expert_info(ex.malformed, "public key: " .. problem)
    else
        key:add(f.key_oid, view(CGA_FIXED, key_length), info.oid):set_generated()
        key:add(f.key_algorithm, view(CGA_FIXED, key_length), info.name):set_generated()
        if info.bits then
            key:add(f.key_bits, view(CGA_FIXED, key_length), info.bits):set_generated()
            key:append_text(string.format(" [%s, %d bits]", info.name, info.bits))
        end
    end
    local pos = key_end - 1 -- 0-based offset of the first extension field
    while pos < n do
        if n - pos < 4 then
            node:add_proto_expert_info(ex.malformed, string.format(
                "%d bytes after the last field: an extension field needs a 4-byte header (RFC 4581 §3)", n - pos))
            return
        end
        local etype = data:byte(pos + 1) * 256 + data:byte(pos + 2)
        local elen = data:byte(pos + 3) * 256 + data:byte(pos + 4)
        local size = math.min(4 + elen, n - pos)
        local ext = node:add(f.ext, view(pos, size))
        ext:set_text(string.format("Extension Field: %s (0x%04x), %d bytes",
            EXTENSION_NAMES[etype] or "Unassigned", etype, elen))
        ext:add(f.ext_type, view(pos, 2))
        ext:add(f.ext_length, view(pos + 2, 2))
        if 4 + elen > n - pos then
            ext:add_proto_expert_info(ex.malformed, string.format(
                "extension field of %d data bytes runs %d bytes past the CGA Parameters", elen, 4 + elen - (n - pos)))
            return
        end
        if elen > 0 then
            ext:add(f.ext_data, view(pos + 4, elen))
        end
        pos = pos + 4 + elen
    end
end

-- ---------------------------------------------------------------- placement rules

-- The sentences of scapy_fama.wire.layout's framing_problems and bad_problem, each with the option
-- it is shown on.
local function framing(ctx)
    local frames, out = ctx.frames, {}
    local cga, sigs, bads = {}, {}, {}
    for i, fr in ipairs(frames) do
        if fr.type == CGA_PARAMS then cga[#cga + 1] = i end
        if fr.type == SIGNATURE then sigs[#sigs + 1] = i end
        if fr.type == BAD then bads[#bads + 1] = i end
    end
    local function on(frame_index, last_piece)
        local fr = frames[frame_index]
        return last_piece and fr.upto or fr.first
    end
    if #cga > 1 then
        out[#out + 1] = { on(cga[2]), "CGA Parameters options are not back to back" }
    end
    for _, i in ipairs(cga) do
        local lengths, canonical = {}, true
        for k, piece in ipairs(frames[i].pieces) do
            lengths[k] = tostring(piece.len)
            if k < #frames[i].pieces and piece.len ~= PIECE_MAX then canonical = false end
        end
        if not canonical then
            out[#out + 1] = { on(i, true), string.format(
                "CGA Parameters pieces [%s]: every piece but the last must be 255 bytes", table.concat(lengths, ", ")) }
        end
    end
    if #cga > 0 and (#sigs == 0 or sigs[1] ~= cga[#cga] + 1) then
        out[#out + 1] = { on(cga[#cga], true),
            "the Signature option does not directly follow the last CGA Parameters option" }
    end
    if #sigs > 0 and #cga == 0 then
        out[#out + 1] = { on(sigs[1]), "a Signature option without CGA Parameters" }
    end
    if #bads > 1 then -- profile §6: exactly one BAD, the last option
        out[#out + 1] = { on(bads[2]), string.format("%d BAD options (exactly one allowed)", #bads) }
    elseif #bads == 1 then
        local bad = bads[1]
        if bad ~= #frames then
            local after = "padding"
            for k = bad + 1, #frames do
                if frames[k].type > 1 then after = "options" end
            end
            out[#out + 1] = { on(bad), string.format("the BAD option is not last (%s after it)", after) }
        elseif frames[bad].offset % 8 ~= 2 then
            out[#out + 1] = { on(bad), string.format(
                "the BAD option starts at MH offset %d, not 8n+2", frames[bad].offset) }
        end
    end
    return out
end

-- ---------------------------------------------------------------- the options

-- A CGA Parameters piece; the last piece of a block shows the block reassembled.
local function cga_piece(item, tvb, ctx)
    local olen = tvb:reported_len() - 2
    if ctx == nil then -- placed nowhere: the piece alone is the block
        item:append_text(string.format(": CGA Parameters, %d bytes (block not placed in its Mobility Header)", olen))
        cga_structure(item, olen > 0 and tvb:raw(2, olen) or "", olen > 0 and tvb(2, olen):tvb() or nil)
        return
    end
    local frame = ctx.frames[ctx.options[ctx.index].frame]
    local pieces = frame.pieces
    local k = ctx.index - frame.first + 1
    item:append_text(string.format(": CGA Parameters, piece %d of %d (%d bytes)", k, #pieces, olen))
    item:add(f.piece, tvb(0, 2), k):set_generated()
    item:add(f.pieces, tvb(0, 2), #pieces):set_generated()
    item:add(f.block_offset, tvb(0, 2), frame.offset):set_generated()
    if olen > 0 then
        item:add(f.data, tvb(2, olen))
    end
    if k < #pieces then
        item:append_text(string.format(" [reassembled in the piece at MH offset %d]", pieces[#pieces].offset))
        return
    end
    local parts, lengths, cut = {}, {}, false
    for i, piece in ipairs(pieces) do
        lengths[i] = tostring(piece.len)
        local from = piece.offset + 3
        local to = math.min(piece.offset + 2 + piece.len, #ctx.mh)
        cut = cut or to < piece.offset + 2 + piece.len
        parts[i] = ctx.mh:sub(from, to)
    end
    item:add(f.piece_lengths, tvb(0, 2), table.concat(lengths, ", ")):set_generated()
    if cut then
        item:add_proto_expert_info(ex.cut, "the CGA Parameters block is cut short by the capture")
        return
    end
    local data = table.concat(parts)
    local view
    if #pieces == 1 then
        view = olen > 0 and tvb(2, olen):tvb() or nil
    else
        view = ByteArray.new(data, true):tvb("Reassembled CGA Parameters")
        item:add_proto_expert_info(ex.reassembled, string.format(
            "CGA Parameters of %d bytes reassembled from %d pieces (%s bytes)", #data, #pieces,
            table.concat(lengths, " + ")))
    end
    cga_structure(item, data, view)
end

-- The end (MH offset) of the CGA block right before option ``index``, or nil.
local function block_before(ctx, index)
    local previous = ctx.options[index - 1]
    if previous ~= nil and previous.type == CGA_PARAMS then
        return previous.offset + previous.size
    end
    return nil
end

local function signature(item, tvb, ctx, olen)
    item:append_text(string.format(": Signature, %d bytes", olen))
    if olen == 0 then
        item:add_proto_expert_info(ex.malformed, "an empty Signature option (RFC 4866 §5.2)")
        return
    end
    item:add(f.sig, tvb(2, olen))
    item:add(f.sig_bits, tvb(2, olen), 8 * olen):set_generated()
    local covers = ctx and block_before(ctx, ctx.index)
    if covers then
        item:add(f.sig_covers, tvb(0, 2), covers):set_generated():append_text(
            " (RSASSA-PKCS1-v1_5/SHA-1 over the CGA tag, CoA, correspondent and MH bytes up to here, RFC 4866 §5.2)")
    end
end

local function phkt(item, tvb, olen)
    item:append_text(string.format(": Permanent Home Keygen Token, %d-byte ciphertext", olen))
    item:add(f.phkt_present, tvb(0, 2), true):set_generated()
    if olen == 0 then
        item:add_proto_expert_info(ex.malformed, "an empty Permanent Home Keygen Token option (RFC 4866 §5.3)")
        return
    end
    item:add(f.phkt, tvb(2, olen)):append_text(
        " (the 8-byte token, RSAES-PKCS1-v1_5-encrypted to the MN's key: RFC 4866 §5.3)")
    item:add(f.phkt_bits, tvb(2, olen), 8 * olen):set_generated()
end

local function bad_position(item, tvb, ctx)
    item:append_text(": Binding Authorization Data position")
    if ctx == nil then
        return
    end
    local here = ctx.options[ctx.index]
    local last = ctx.index == #ctx.options
    item:add(f.bad_offset, tvb(0, 2), here.offset):set_generated()
    item:add(f.bad_last, tvb(0, 2), last):set_generated()
    item:add(f.bad_covers, tvb(0, 2), here.offset + 2):set_generated():append_text(
        " (the MH with checksum 0 up to the authenticator: RFC 6275 §6.2.7)")
end

function fama.dissector(tvb, pinfo, tree)
    local captured, reported = tvb:len(), tvb:reported_len()
    if captured < 2 then -- mip6 read Type and Length before calling: only a caller of our own gets here
        tree:add_proto_expert_info(ex.cut, string.format("option of %d bytes, %d captured", reported, captured))
        return captured
    end
    local otype = tvb(0, 1):uint()
    if otype == BAD and wireshark_bad ~= nil and captured == reported then
        wireshark_bad:call(tvb, pinfo, tree) -- it would raise (a Lua error here) on a cut option
    end
    local item = tree:add(fama, tvb(0, captured))
    item:set_text("FAMA")
    item:add(f.type, tvb(0, 1))
    item:add(f.length, tvb(1, 1))
    if captured < reported then
        item:append_text(string.format(": %s, %d of %d bytes captured", OPTION_NAMES[otype], captured, reported))
        item:add_proto_expert_info(ex.cut, string.format(
            "%s option of %d bytes, %d captured", OPTION_NAMES[otype], reported, captured))
        return captured
    end
    local olen = reported - 2
    local ctx = context(tvb)
    if ctx ~= nil then
        item:add(f.offset, tvb(0, 2), ctx.options[ctx.index].offset):set_generated()
    end
    local exact = EXACT_LENGTH[otype]
    if otype == CGA_PARAMS then
        cga_piece(item, tvb, ctx)
    elseif otype == SIGNATURE then
        signature(item, tvb, ctx, olen)
    elseif otype == PHKT then
        phkt(item, tvb, olen)
    elseif otype == BAD then
        bad_position(item, tvb, ctx)
    else
        item:append_text(": " .. OPTION_NAMES[otype])
        if otype == 11 then
            item:add(f.requested, tvb(0, 2), true):set_generated()
        elseif otype == 15 then
            item:add(f.coti, tvb(0, 2), true):set_generated()
        elseif olen == exact then
            item:add(f.cot_token, tvb(2, olen))
        end
    end
    if exact ~= nil and olen ~= exact then
        item:add_proto_expert_info(ex.malformed, string.format(
            "%s option of length %d: RFC 4866 defines it as %d", OPTION_NAMES[otype], olen, exact))
    end
    if ctx ~= nil then
        for _, problem in ipairs(framing(ctx)) do
            if problem[1] == ctx.index then
                item:add_proto_expert_info(ex.framing, problem[2])
            end
        end
    end
    return captured
end

for otype = 11, 16 do
    options_table:add(otype, fama)
end
options_table:add(BAD, fama)

-- ---------------------------------------------------------------- BA and Binding Error statuses, the Care-of Test token

local statuses = Proto("fama_status", "FAMA message fields Wireshark names wrongly")

-- One Status of the frame by its IANA name (the name Wireshark gives may be obsolete), in the tree
-- (``field``) and the Info column; returns its item, the status and the name.
local function named_status(fi, pinfo, tree, message, names, source, field)
    local status = fi.value
    local name = names[status] or "Unassigned"
    local item = tree:add(fama, fi.range)
    item:set_text(string.format("FAMA %s: status %d, %s (%s)", message, status, name, source))
    item:add(field, fi.range)
    pinfo.cols.info:append(string.format(" (status %d: %s)", status, name))
    return item, status, name
end

function statuses.dissector(_, pinfo, tree)
    for _, fi in ipairs({ ba_status_field() }) do
        local source = (fi.value >= 147 and fi.value <= 150) and "RFC 4866 §5.7" or "RFC 6275 §6.1.8"
        local item, status, name = named_status(fi, pinfo, tree, "Binding Acknowledgement", BA_STATUS, source,
            f.ba_status)
        if status >= REFUSED then
            item:add_proto_expert_info(ex.refused, string.format("BA %d: %s", status, name))
        end
    end
    for _, fi in ipairs({ be_status_field() }) do
        named_status(fi, pinfo, tree, "Binding Error", BE_STATUS, "RFC 6275 §6.1.9", f.be_status)
    end
    -- RFC 6275 §6.1.6: in a Care-of Test, the 8 bytes after the Care-of Init Cookie are the
    -- care-of keygen token (a Home Test's token follows a Home Init Cookie)
    local after_cot_cookie = {}
    for _, fi in ipairs({ cot_cookie_field() }) do
        after_cot_cookie[fi.offset + fi.len] = true
    end
    for _, fi in ipairs({ keygen_token_field() }) do
        if after_cot_cookie[fi.offset] then
            local item = tree:add(fama, fi.range)
            item:set_text("FAMA Care-of Test: Care-of Keygen Token (RFC 6275 §6.1.6; Wireshark 4.0 shows it as "
                .. "Home Keygen Token)")
            item:add(f.cot_token, fi.range)
        end
    end
end

register_postdissector(statuses)

-- ---------------------------------------------------------------- the Mobility Header checksum

local checksums = Proto("fama_checksum", "FAMA Mobility Header checksum")

-- The fields that name the header after them.
local NEXT_HEADER = {
    ["ipv6.nxt"] = true, ["ipv6.hopopts.nxt"] = true, ["ipv6.dstopts.nxt"] = true, ["ipv6.routing.nxt"] = true,
    ["ipv6.fraghdr.nxt"] = true, ["ah.next_header"] = true,
}
-- The fields the walk reads, primed so that a run without a full tree still has them.
local WALKED = {
    "ipv6.src", "ipv6.dst", "ipv6.opt.mipv6.home_address", "ipv6.routing.type", "ipv6.routing.segleft",
    "ipv6.routing.mipv6.home_address", "mipv6",
}
for name in pairs(NEXT_HEADER) do
    WALKED[#WALKED + 1] = name
end
for _, name in ipairs(WALKED) do
    Field.new(name)
end

-- The bytes of ``fi`` (a Lua string), or nil when its range is not in the capture.
local function raw_bytes(fi)
    local ok, range = pcall(function() return fi.range end)
    if not ok or range == nil then
        return nil
    end
    return range:bytes():raw()
end

-- Every Mobility Header of the frame with the pseudo-header of the IPv6 header it follows:
-- {mh (FieldInfo), src, dst (FieldInfos of the addresses), why (a reason not to verify, or nil)}.
-- Walked in tree order: an IPv6 header starts afresh; its Home Address option replaces the
-- source (RFC 6275 §6.3, §9.3.1); its type 2 Routing header with a segment left replaces the
-- destination (§6.4, §9.4.5; RFC 8200 §8.1: the final destination).
local function mobility_headers()
    local out, src, dst, hoa, final, routing, rtype, segleft, named = {}
    for _, fi in ipairs({ all_field_infos() }) do
        local name = fi.name
        if NEXT_HEADER[name] then
            named = fi.value
        elseif name == "ipv6.src" then
            src, dst, hoa, final, routing = fi, nil, nil, nil, nil
        elseif name == "ipv6.dst" then
            dst = fi
        elseif name == "ipv6.opt.mipv6.home_address" then
            hoa = fi
        elseif name == "ipv6.routing.type" then
            rtype = fi.value
        elseif name == "ipv6.routing.segleft" then
            segleft = fi.value
            if rtype ~= nil and rtype ~= 2 and segleft > 0 then
                routing = string.format("a type %d routing header with %d segments left (its final destination "
                    .. "is not read here)", rtype, segleft)
            end
        elseif name == "ipv6.routing.mipv6.home_address" and (segleft or 0) > 0 then
            final = fi
        elseif name == "mipv6" then
            local why = routing
            if src == nil or dst == nil then
                why = "no IPv6 header before the Mobility Header"
            elseif named == DRAFT_MH_PROTOCOL then
                why = string.format("carried as protocol %d of the drafts, not %d (RFC 6275 §6.1)", named, MH_PROTOCOL)
            end
            out[#out + 1] = { mh = fi, src = hoa or src, dst = final or dst, why = why }
        end
    end
    return out
end

-- RFC 1071: the one's complement of the one's complement sum of the 16-bit words of the
-- pseudo-header (RFC 8200 §8.1: source, destination, upper-layer length, 3 zero bytes, next
-- header) and the MH with its checksum field (bytes 4-5) zero.
local function mh_checksum(src, dst, mh)
    local n = #mh
    local data = src .. dst .. string.char(0, 0, math.floor(n / 256), n % 256, 0, 0, 0, MH_PROTOCOL)
        .. mh:sub(1, 4) .. "\0\0" .. mh:sub(7)
    local sum = 0
    for i = 1, #data - 1, 2 do -- every length here is even: 40 and a MH of 8n bytes
        sum = sum + data:byte(i) * 256 + data:byte(i + 1)
    end
    while sum > 0xFFFF do
        sum = sum % 0x10000 + math.floor(sum / 0x10000)
    end
    return 0xFFFF - sum
end

local function address_item(item, field, fi, what)
    item:add(field, fi.range, fi.value):set_generated():append_text(" (" .. what .. ")")
end

local function verify(tree, header)
    local mh = raw_bytes(header.mh)
    if mh == nil or #mh < 6 then -- no checksum to read: Wireshark shows the MH cut short
        return
    end
    local carried = mh:byte(5) * 256 + mh:byte(6)
    local csum_range = header.mh.range:range(4, 2)
    local item = tree:add(checksums, csum_range)
    local size = 8 * (mh:byte(2) + 1) -- RFC 6275 §6.1: Header Len counts 8-octet units after the first 8
    local src, dst = raw_bytes(header.src), raw_bytes(header.dst)
    local why = header.why
    if why == nil and #mh < size then
        why = string.format("%d of the Mobility Header's %d bytes in the packet", #mh, size)
    elseif why == nil and (src == nil or dst == nil or #src ~= 16 or #dst ~= 16) then
        why = "a pseudo-header address not in the capture"
    end
    if why ~= nil then
        item:set_text(string.format("FAMA Mobility Header checksum: 0x%04x [unverified: %s]", carried, why))
        item:add(f.checksum_status, csum_range, UNVERIFIED):set_generated()
        return
    end
    local computed = mh_checksum(src, dst, mh:sub(1, size))
    local good = computed == carried
    item:set_text(string.format("FAMA Mobility Header checksum: 0x%04x [%s] (RFC 6275 §6.1.1)", carried,
        good and "correct" or string.format("incorrect, should be 0x%04x", computed)))
    item:add(f.checksum_status, csum_range, good and GOOD_SUM or BAD_SUM):set_generated()
    item:add(f.checksum_computed, csum_range, computed):set_generated()
    address_item(item, f.pseudo_src, header.src,
        header.src.name == "ipv6.src" and "IPv6 source" or "the Home Address option's")
    address_item(item, f.pseudo_dst, header.dst,
        header.dst.name == "ipv6.dst" and "IPv6 destination" or "the type 2 Routing header's")
    if not good then
        item:add_proto_expert_info(ex.checksum, string.format(
            "MH checksum 0x%04x, computed 0x%04x over the pseudo-header %s -> %s: a receiver silently "
                .. "discards the message (RFC 6275 §6.1.1, §9.2)", carried, computed, tostring(header.src.value),
            tostring(header.dst.value)))
    end
end

function checksums.dissector(_, _, tree)
    if mipv6_field() == nil then
        return
    end
    for _, header in ipairs(mobility_headers()) do
        verify(tree, header)
    end
end

register_postdissector(checksums)
