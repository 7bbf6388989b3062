"""Static reference data for the synthetic technology catalogue.

Each subcategory is described in a compact text form so the table stays readable:
``brands`` is ``"Brand: Series A | Series B; Other: Series C"`` and ``options`` is
``"key=value|value; other=value"``. The name template uses ``{brand}``, ``{series}`` and the
option keys; some templates deliberately produce commas and double quotes (``27", 4K``) so
the landing files exercise RFC 4180 quoting.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SubcategorySpec:
    """How to invent products of one subcategory."""

    category: str
    subcategory: str
    price: tuple[int, int]
    brands: tuple[tuple[str, tuple[str, ...]], ...]
    template: str
    options: tuple[tuple[str, tuple[str, ...]], ...]


def _split(text: str, sep: str) -> tuple[str, ...]:
    """Non-empty, stripped parts of ``text``."""
    return tuple(part.strip() for part in text.split(sep) if part.strip())


def _spec(
    names: tuple[str, str], price: tuple[int, int], brands: str, template: str, options: str
) -> SubcategorySpec:
    """Parse one table entry; ``names`` is (category, subcategory)."""
    parsed_brands = tuple(
        (brand.strip(), _split(series, "|"))
        for brand, series in (item.split(":", 1) for item in _split(brands, ";"))
    )
    parsed_options = tuple(
        (key.strip(), _split(values, "|"))
        for key, values in (item.split("=", 1) for item in _split(options, ";"))
    )
    return SubcategorySpec(*names, price, parsed_brands, template, parsed_options)


# Share of the catalogue and relative sales frequency per category: cheap accessories
# and storage sell far more often than laptops or GPUs.
CATEGORY_SHARE: dict[str, float] = {
    "Laptops": 0.10, "Smartphones": 0.07, "Tablets": 0.05, "Monitors": 0.08,
    "Peripherals": 0.13, "Components": 0.13, "Audio": 0.11, "Networking": 0.07,
    "Storage": 0.10, "Accessories": 0.16,
}  # fmt: skip
CATEGORY_POPULARITY: dict[str, float] = {
    "Laptops": 0.6, "Smartphones": 0.9, "Tablets": 0.6, "Monitors": 0.7,
    "Peripherals": 1.3, "Components": 0.8, "Audio": 1.2, "Networking": 0.8,
    "Storage": 1.4, "Accessories": 2.0,
}  # fmt: skip
# Purchase cost as a share of the list price: thin margins on components and phones.
COST_RATIO: dict[str, tuple[float, float]] = {
    "Laptops": (0.72, 0.86), "Smartphones": (0.75, 0.88), "Tablets": (0.70, 0.85),
    "Monitors": (0.68, 0.82), "Peripherals": (0.50, 0.70), "Components": (0.80, 0.92),
    "Audio": (0.50, 0.70), "Networking": (0.60, 0.78), "Storage": (0.62, 0.80),
    "Accessories": (0.30, 0.55),
}  # fmt: skip

SUBCATEGORIES: tuple[SubcategorySpec, ...] = (
    _spec(("Laptops", "Ultrabooks"), (799, 2499),
          "Apple: MacBook Air | MacBook Pro; Dell: XPS 13 | XPS 14 | Inspiron 14 Plus; "
          "HP: Envy | Spectre; Lenovo: Yoga Slim 7 | ThinkPad X1 Carbon; ASUS: Zenbook 14; "
          "Microsoft: Surface Laptop 7",
          '{brand} {series} {size}", {ram}, {ssd} SSD',
          "size=13.3|13.6|14|15.3; ram=8GB|16GB|32GB; ssd=256GB|512GB|1TB"),
    _spec(("Laptops", "Gaming Laptops"), (899, 3499),
          "ASUS: ROG Strix G16 | TUF Gaming A15; MSI: Katana 15 | Raider GE78 | Stealth 16; "
          "Lenovo: Legion 5 | Legion Pro 7; Acer: Nitro V 15 | Predator Helios 16; "
          "Razer: Blade 16; HP: Omen 16 | Victus 15; Dell: Alienware m16",
          '{brand} {series} {size}" {gpu}, {ram}',
          "size=15.6|16|17.3; gpu=RTX 4050|RTX 4060|RTX 4070|RTX 4080; ram=16GB|32GB"),
    _spec(("Laptops", "Business Laptops"), (699, 2199),
          "Lenovo: ThinkPad T14 | ThinkPad E16; Dell: Latitude 5450 | Latitude 7450; "
          "HP: EliteBook 840 | ProBook 450",
          '{brand} {series} {size}" {cpu}, {ram}',
          "size=14|15.6|16; cpu=Core i5|Core i7|Ryzen 5 PRO|Ryzen 7 PRO; ram=16GB|32GB"),
    _spec(("Laptops", "2-in-1 Laptops"), (599, 1999),
          "HP: Spectre x360 | Envy x360; Lenovo: Yoga 7 | ThinkPad X13 Yoga; "
          "Microsoft: Surface Pro 11; Dell: Inspiron 14 2-in-1",
          '{brand} {series} {size}" 2-in-1 Touch, {ram}',
          "size=13|14|16; ram=8GB|16GB|32GB"),
    _spec(("Smartphones", "Flagship Phones"), (799, 1799),
          "Apple: iPhone 16 | iPhone 16 Pro | iPhone 16 Pro Max; "
          "Samsung: Galaxy S25 | Galaxy S25 Ultra | Galaxy Z Flip6; Google: Pixel 9 | Pixel 9 Pro",
          "{brand} {series} {storage}, {color}",
          "storage=128GB|256GB|512GB|1TB; color=Black|White|Blue|Titanium Gray|Green"),
    _spec(("Smartphones", "Mid-range Phones"), (299, 699),
          "Samsung: Galaxy A55 | Galaxy A35; Google: Pixel 8a; OnePlus: Nord 4 | 12R; "
          "Xiaomi: Redmi Note 13 Pro; Motorola: Edge 50; Nothing: Phone (2a)",
          "{brand} {series} {storage}, {color}",
          "storage=128GB|256GB; color=Black|Blue|Mint|Silver"),
    _spec(("Smartphones", "Budget Phones"), (99, 299),
          "Motorola: Moto G54 | Moto G34; Xiaomi: Redmi 13C; Samsung: Galaxy A15; Nokia: G42",
          "{brand} {series} {storage} Dual SIM, {color}",
          "storage=64GB|128GB; color=Black|Blue|Purple"),
    _spec(("Tablets", "Tablets"), (199, 1499),
          "Apple: iPad Air | iPad Pro | iPad mini; Samsung: Galaxy Tab S9 | Galaxy Tab A9+; "
          "Lenovo: Tab P12; Microsoft: Surface Go 4",
          '{brand} {series} {size}" {conn}, {storage}',
          "size=8.3|10.9|11|12.9|13; conn=Wi-Fi|Wi-Fi + Cellular; storage=64GB|128GB|256GB"),
    _spec(("Tablets", "E-readers"), (99, 449),
          "Amazon: Kindle Paperwhite | Kindle Scribe; Kobo: Clara BW | Libra Colour",
          "{brand} {series} {storage}, {color}",
          "storage=16GB|32GB|64GB; color=Black|Jade|White"),
    _spec(("Monitors", "Office Monitors"), (129, 449),
          "Dell: P2425H | S2721DS; LG: UltraFine 24MR400; HP: E24 G5; Philips: 243V7; "
          "AOC: 24B2XH",
          '{brand} {series} Monitor {size}", {res}',
          "size=23.8|24|27; res=Full HD|QHD"),
    _spec(("Monitors", "Gaming Monitors"), (199, 1299),
          "ASUS: TUF Gaming VG27AQ | ROG Swift PG27AQDM; LG: UltraGear 27GR95QE; "
          "Samsung: Odyssey G5 | Odyssey OLED G8; MSI: MAG 274QRF; AOC: Gaming Q27G3XMN",
          '{brand} {series} {size}" {res} {hz}Hz',
          "size=24.5|27|32|34; res=QHD|4K UHD|UWQHD; hz=144|165|240"),
    _spec(("Monitors", "Professional Monitors"), (399, 2199),
          "Dell: UltraSharp U2724D | UltraSharp U3224KB; BenQ: PD2706U | SW272U; "
          "LG: UltraFine 32UQ85R; ASUS: ProArt PA279CV",
          '{brand} {series} Monitor {size}", {res}',
          "size=27|31.5|32; res=4K|5K|6K"),
    _spec(("Peripherals", "Keyboards"), (29, 249),
          "Logitech: MX Keys S | K380 | G915 TKL; Corsair: K70 RGB; Razer: BlackWidow V4; "
          "Keychron: K2 | Q1 Pro; Microsoft: Ergonomic; SteelSeries: Apex Pro",
          "{brand} {series} {kind} Keyboard, {layout}",
          "kind=Wireless|Mechanical|Low-Profile; layout=US Layout|UK Layout|DE Layout"),
    _spec(("Peripherals", "Mice"), (15, 169),
          "Logitech: MX Master 3S | M185 | G502 X | G Pro X Superlight; "
          "Razer: DeathAdder V3 | Basilisk V3; SteelSeries: Rival 3; Microsoft: Bluetooth",
          "{brand} {series} {kind} Mouse",
          "kind=Wireless|Wired|Gaming|Ergonomic"),
    _spec(("Peripherals", "Webcams"), (49, 249),
          "Logitech: C920 | Brio 4K | StreamCam; Razer: Kiyo Pro; Elgato: Facecam",
          "{brand} {series} Webcam {res}",
          "res=1080p|4K"),
    _spec(("Peripherals", "Printers"), (89, 499),
          "HP: LaserJet Pro | OfficeJet Pro; Brother: HL-L2350DW | MFC-L2750DW; "
          "Canon: PIXMA TS6350; Epson: EcoTank ET-2850",
          "{brand} {series} {kind} Printer",
          "kind=Wireless|All-in-One|Mono Laser"),
    _spec(("Components", "Graphics Cards"), (299, 1999),
          "ASUS: TUF Gaming | ROG Strix | Dual; MSI: Gaming X Trio | Ventus 2X; "
          "Gigabyte: Windforce | AORUS Master; Zotac: Twin Edge",
          "{brand} {gpu} {series} {mem}",
          "gpu=GeForce RTX 4060|GeForce RTX 4070 SUPER|GeForce RTX 4080 SUPER|Radeon RX 7800 XT;"
          " mem=8GB GDDR6|12GB GDDR6X|16GB GDDR6X"),
    _spec(("Components", "Processors"), (149, 699),
          "AMD: Ryzen 5 7600X | Ryzen 7 7800X3D | Ryzen 9 9950X; "
          "Intel: Core i5-14600K | Core i7-14700K | Core Ultra 9 285K",
          "{brand} {series} Processor, {pack}",
          "pack=Box|Tray"),
    _spec(("Components", "Internal SSDs"), (39, 399),
          "Samsung: 990 PRO | 870 EVO; WD: Black SN850X | Blue SN580; Crucial: T500 | P3 Plus; "
          "Kingston: KC3000 | NV2",
          "{brand} {series} {cap} {iface}",
          'cap=500GB|1TB|2TB|4TB; iface=NVMe M.2|SATA 2.5"'),
    _spec(("Components", "Memory"), (39, 299),
          "Corsair: Vengeance; G.Skill: Trident Z5 | Ripjaws S5; Kingston: Fury Beast; "
          "Crucial: Pro",
          "{brand} {series} {kit} {ddr}",
          "kit=16GB (2x8GB)|32GB (2x16GB)|64GB (2x32GB); ddr=DDR4-3200|DDR5-5600|DDR5-6000"),
    _spec(("Components", "Motherboards"), (99, 499),
          "ASUS: ROG Strix B650-A | TUF Gaming X670E-Plus | Prime Z790-P; "
          "MSI: MAG B650 Tomahawk | PRO Z790-A; Gigabyte: B650 AORUS Elite AX; "
          "ASRock: B650M Pro RS",
          "{brand} {series} Motherboard, {form}",
          "form=ATX|Micro-ATX"),
    _spec(("Components", "Power Supplies"), (79, 249),
          "Corsair: RM850x | RM1000e; Seasonic: Focus GX-750; be quiet!: Pure Power 12 M",
          "{brand} {series} Power Supply, 80+ {rating}",
          "rating=Gold|Platinum"),
    _spec(("Audio", "Headphones"), (79, 549),
          "Sony: WH-1000XM5 | WH-CH720N; Bose: QuietComfort Ultra | QuietComfort 45; "
          "Sennheiser: Momentum 4; Apple: AirPods Max; Beats: Studio Pro",
          "{brand} {series} {kind} Headphones, {color}",
          "kind=Wireless Noise Cancelling|Over-Ear Bluetooth; color=Black|Silver|Midnight Blue"),
    _spec(("Audio", "Earbuds"), (39, 279),
          "Apple: AirPods 4 | AirPods Pro 2; Samsung: Galaxy Buds3 Pro | Galaxy Buds FE; "
          "Sony: WF-1000XM5; Jabra: Elite 8 Active; Anker: Soundcore Liberty 4",
          "{brand} {series} True Wireless Earbuds, {color}",
          "color=Black|White|Silver"),
    _spec(("Audio", "Speakers"), (49, 499),
          "JBL: Flip 6 | Charge 5 | PartyBox 110; Bose: SoundLink Flex; Sonos: Era 100 | Roam 2; "
          "Ultimate Ears: BOOM 4",
          "{brand} {series} {kind} Speaker",
          "kind=Portable Bluetooth|Smart|Waterproof"),
    _spec(("Audio", "Headsets"), (39, 329),
          "HyperX: Cloud III | Cloud Alpha; SteelSeries: Arctis Nova 7; "
          "Logitech: G Pro X 2 | Zone Vibe 100; Jabra: Evolve2 65; Razer: BlackShark V2",
          "{brand} {series} {kind} Headset",
          "kind=Gaming|Wireless|USB Office"),
    _spec(("Networking", "Routers"), (59, 699),
          "TP-Link: Archer AX55 | Archer BE800; Netgear: Nighthawk RAX50; "
          "ASUS: RT-AX86U Pro | RT-BE96U; Linksys: Hydra Pro 6",
          "{brand} {series} {std} Router",
          "std=Wi-Fi 6|Wi-Fi 6E|Wi-Fi 7"),
    _spec(("Networking", "Mesh Wi-Fi"), (129, 899),
          "TP-Link: Deco X55 | Deco BE65; Netgear: Orbi RBK763S; Eero: Pro 6E | 6+; "
          "Google: Nest Wifi Pro",
          "{brand} {series} Mesh Wi-Fi System, {pack}",
          "pack=1-Pack|2-Pack|3-Pack"),
    _spec(("Networking", "Switches"), (19, 399),
          "TP-Link: TL-SG108 | TL-SG116E; Netgear: GS308 | GS316PP; "
          "Ubiquiti: UniFi Switch Lite 8 PoE | UniFi Switch 24",
          "{brand} {series} {kind} Switch",
          "kind=Unmanaged Gigabit|Smart Managed Gigabit|PoE+ Gigabit"),
    _spec(("Networking", "Network Adapters"), (19, 89),
          "TP-Link: Archer TX55E | UE306; ASUS: PCE-AXE5400 | USB-AX56; Intel: AX210",
          "{brand} {series} {kind} Adapter",
          "kind=Wi-Fi 6 PCIe|USB 3.0 to Gigabit Ethernet|Wi-Fi 6E USB"),
    _spec(("Storage", "External SSDs"), (79, 399),
          "Samsung: T7 Shield | T9; SanDisk: Extreme Portable | Extreme PRO Portable; "
          "Crucial: X9 Pro | X10 Pro; LaCie: Rugged SSD",
          "{brand} {series} {cap} Portable SSD, USB-C",
          "cap=500GB|1TB|2TB|4TB"),
    _spec(("Storage", "External HDDs"), (59, 449),
          "WD: My Passport | Elements Desktop; Seagate: Expansion | One Touch; LaCie: Rugged Mini",
          "{brand} {series} {cap} External Hard Drive",
          "cap=1TB|2TB|4TB|5TB|12TB|20TB"),
    _spec(("Storage", "USB Flash Drives"), (9, 99),
          "SanDisk: Ultra Flair | Extreme PRO; Kingston: DataTraveler Exodia; "
          "Samsung: BAR Plus | FIT Plus",
          "{brand} {series} {cap} USB {usb} Flash Drive",
          "cap=64GB|128GB|256GB|512GB; usb=3.0|3.2"),
    _spec(("Storage", "Memory Cards"), (12, 149),
          "SanDisk: Extreme microSDXC | Extreme PRO SDXC; "
          "Samsung: EVO Select microSDXC | PRO Plus SDXC; Kingston: Canvas Go! Plus",
          "{brand} {series} {cap}, {speed}",
          "cap=64GB|128GB|256GB|512GB|1TB; speed=UHS-I U3 V30|UHS-I A2|UHS-II V90"),
    _spec(("Storage", "NAS"), (199, 899),
          "Synology: DiskStation DS224+ | DiskStation DS923+; QNAP: TS-264 | TS-464; "
          "WD: My Cloud EX2 Ultra",
          "{brand} {series} NAS, {disks}",
          "disks=Diskless|with 2x4TB|with 4x8TB"),
    _spec(("Accessories", "Cables & Adapters"), (9, 89),
          "Anker: PowerLine III USB-C Cable | 7-in-1 USB-C Hub; "
          "Belkin: USB-C to HDMI Adapter | BoostCharge USB-C Cable; "
          "UGREEN: USB-C to USB-C Cable | DisplayPort Cable; Apple: USB-C to Lightning Cable",
          "{brand} {series}, {length}",
          'length=1m|2m|3 ft|6 ft|10"'),
    _spec(("Accessories", "Chargers"), (15, 149),
          "Anker: Nano 30W | Prime 100W GaN; Belkin: BoostCharge Pro 3-in-1; "
          "Apple: 20W USB-C Power Adapter; Samsung: 45W Super Fast; UGREEN: Nexode 65W",
          "{brand} {series} {kind}",
          "kind=Wall Charger|Wireless Charger|Car Charger"),
    _spec(("Accessories", "Cases & Covers"), (12, 99),
          "Spigen: Ultra Hybrid | Tough Armor; OtterBox: Defender | Symmetry; "
          "Apple: Silicone Case with MagSafe | Smart Folio",
          "{brand} {series} for {device}, {color}",
          'device=iPhone 16|iPhone 16 Pro|Galaxy S25|iPad Air 11"|iPad Pro 13"; '
          "color=Clear|Black|Navy"),
    _spec(("Accessories", "Laptop Bags"), (19, 249),
          "Targus: CitySmart | Classic; Samsonite: Pro-DLX 6; Thule: Crossover 2; Incase: Icon",
          '{brand} {series} {kind} {size}"',
          "kind=Backpack|Sleeve|Briefcase; size=13|14|15.6|16"),
    _spec(("Accessories", "Docking Stations"), (99, 399),
          "CalDigit: TS4 | Element Hub; Dell: WD22TB4 | WD19S; "
          "Lenovo: ThinkPad Universal USB-C Dock; Belkin: Connect Pro Thunderbolt 4 Dock",
          "{brand} {series}, {power} Power Delivery",
          "power=60W|90W|98W|130W"),
    _spec(("Accessories", "Power Banks"), (19, 149),
          "Anker: PowerCore | Prime; Belkin: BoostCharge Plus; Samsung: Battery Pack; "
          "Xiaomi: Mi Power Bank 3",
          "{brand} {series} {cap}mAh Power Bank, {watts}W",
          "cap=10000|20000|26800; watts=20|25|65|100"),
)  # fmt: skip

# Plausible catalogue reorganisations a change extract may carry:
# (category, subcategory) -> (new category, new subcategory).
RECLASSIFICATIONS: dict[tuple[str, str], tuple[str, str]] = {
    ("Audio", "Headsets"): ("Peripherals", "Headsets"),
    ("Peripherals", "Webcams"): ("Accessories", "Webcams"),
    ("Components", "Internal SSDs"): ("Storage", "Internal SSDs"),
    ("Networking", "Mesh Wi-Fi"): ("Networking", "Routers"),
    ("Accessories", "Docking Stations"): ("Peripherals", "Docking Stations"),
    ("Laptops", "2-in-1 Laptops"): ("Tablets", "2-in-1 Tablets"),
    ("Storage", "Memory Cards"): ("Accessories", "Memory Cards"),
}
