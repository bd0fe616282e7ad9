"""The instruments' texts exactly as their publishers print them, one constant per published version.

Never edit a constant here once it is in a release: stored responses name their version, and a version's
wording, options and scoring must stay what the member answered. A correction is a new constant with the
next version number, added to the registry in `instruments` beside the old one.
docs/measures.md gives each text's source, licence and the scoring's source.
"""

from __future__ import annotations

from supportnet.measures.definitions import Band, Instrument, Item, Option, Scoring, Skip, Subscale

# --- PHQ-9 and GAD-7 (Spitzer, Kroenke, Williams and colleagues; the Pfizer forms) -----------------------

PFIZER_LICENCE = (
    "Developed by Drs. Robert L. Spitzer, Janet B.W. Williams, Kurt Kroenke and colleagues, with an "
    "educational grant from Pfizer Inc. No permission required to reproduce, translate, display or distribute."
)

FREQUENCY = (
    Option("Not at all", 0),
    Option("Several days", 1),
    Option("More than half the days", 2),
    Option("Nearly every day", 3),
)

DIFFICULTY = (
    Option("Not difficult at all", 0),
    Option("Somewhat difficult", 1),
    Option("Very difficult", 2),
    Option("Extremely difficult", 3),
)

PHQ9_V1 = Instrument(
    code="PHQ-9",
    version=1,
    title="Patient Health Questionnaire (PHQ-9)",
    citation=(
        "Kroenke K, Spitzer RL, Williams JBW. The PHQ-9: validity of a brief depression severity measure. "
        "J Gen Intern Med. 2001;16(9):606-613."
    ),
    licence=PFIZER_LICENCE,
    licence_source="The footer of the published PHQ-9 form (Pfizer Inc.).",
    wording_source="The published PHQ-9 form (Pfizer Inc.), as transcribed by public pages listed in docs/measures.md.",
    time_frame="Over the last 2 weeks",
    stem="Over the last 2 weeks, how often have you been bothered by any of the following problems?",
    items=(
        Item("1", "Little interest or pleasure in doing things", FREQUENCY),
        Item("2", "Feeling down, depressed, or hopeless", FREQUENCY),
        Item("3", "Trouble falling or staying asleep, or sleeping too much", FREQUENCY),
        Item("4", "Feeling tired or having little energy", FREQUENCY),
        Item("5", "Poor appetite or overeating", FREQUENCY),
        Item(
            "6",
            "Feeling bad about yourself \u2014 or that you are a failure or have let yourself or your family down",
            FREQUENCY,
        ),
        Item("7", "Trouble concentrating on things, such as reading the newspaper or watching television", FREQUENCY),
        Item(
            "8",
            "Moving or speaking so slowly that other people could have noticed? Or the opposite \u2014 being so "
            "fidgety or restless that you have been moving around a lot more than usual",
            FREQUENCY,
        ),
        # Any answer above "Not at all" to thoughts of death or self-harm is a positive screen: the crisis
        # resources come first, whatever the total.
        Item("9", "Thoughts that you would be better off dead or of hurting yourself in some way", FREQUENCY,
             safety_from=1),
        Item(
            "difficulty",
            "If you checked off any problems, how difficult have these problems made it for you to do your work, "
            "take care of things at home, or get along with other people?",
            DIFFICULTY,
            scored=False,
            optional=True,
        ),
    ),
    scoring=Scoring(
        subscales=(Subscale("total", ("1", "2", "3", "4", "5", "6", "7", "8", "9")),),
        banded="total",
        bands=(
            Band(0, 4, "minimal"),
            Band(5, 9, "mild"),
            Band(10, 14, "moderate"),
            Band(15, 19, "moderately severe"),
            Band(20, 27, "severe"),
        ),
        source="Kroenke, Spitzer & Williams 2001 (J Gen Intern Med 16:606-613), table of PHQ-9 severity.",
    ),
    verified=True,
)

GAD7_V1 = Instrument(
    code="GAD-7",
    version=1,
    title="Generalized Anxiety Disorder 7-item scale (GAD-7)",
    citation=(
        "Spitzer RL, Kroenke K, Williams JBW, L\u00f6we B. A brief measure for assessing generalized anxiety "
        "disorder: the GAD-7. Arch Intern Med. 2006;166(10):1092-1097."
    ),
    licence=PFIZER_LICENCE,
    licence_source="The footer of the published GAD-7 form (Pfizer Inc.).",
    wording_source="The published GAD-7 form (Pfizer Inc.), as transcribed by public pages listed in docs/measures.md.",
    time_frame="Over the last 2 weeks",
    stem="Over the last 2 weeks, how often have you been bothered by the following problems?",
    items=(
        Item("1", "Feeling nervous, anxious, or on edge", FREQUENCY),
        Item("2", "Not being able to stop or control worrying", FREQUENCY),
        Item("3", "Worrying too much about different things", FREQUENCY),
        Item("4", "Trouble relaxing", FREQUENCY),
        Item("5", "Being so restless that it\u2019s hard to sit still", FREQUENCY),
        Item("6", "Becoming easily annoyed or irritable", FREQUENCY),
        Item("7", "Feeling afraid as if something awful might happen", FREQUENCY),
        Item(
            "difficulty",
            "If you checked off any problems, how difficult have these made it for you to do your work, take care "
            "of things at home, or get along with other people?",
            DIFFICULTY,
            scored=False,
            optional=True,
        ),
    ),
    scoring=Scoring(
        subscales=(Subscale("total", ("1", "2", "3", "4", "5", "6", "7")),),
        banded="total",
        bands=(
            Band(0, 4, "minimal"),
            Band(5, 9, "mild"),
            Band(10, 14, "moderate"),
            Band(15, 21, "severe"),
        ),
        source="Spitzer et al. 2006 (Arch Intern Med 166:1092-1097): cut points 5, 10 and 15.",
    ),
    verified=True,
)

# --- BAM: the VA's Brief Addiction Monitor, self-report form with its response options ------------------

DAYS = (
    Option("0", 0),
    Option("1-3", 1),
    Option("4-8", 2),
    Option("9-15", 3),
    Option("16-30", 4),
)

DAYS_SKIP_TO_6 = (Option("0 (Skip to #6)", 0), *DAYS[1:])

AMOUNT = (
    Option("Not at all", 0),
    Option("Slightly", 1),
    Option("Moderately", 2),
    Option("Considerably", 3),
    Option("Extremely", 4),
)

HEALTH = (
    Option("Excellent", 0),
    Option("Very Good", 1),
    Option("Good", 2),
    Option("Fair", 3),
    Option("Poor", 4),
)

NO_YES = (
    Option("No", 0),
    Option("Yes", 4),
)

# "If 0, skip to #8": the drug-by-drug items are asked only of someone who used drugs on at least one day.
NO_DRUG_DAYS = Skip("6", 0)


def _drug(label: str, text: str) -> Item:
    return Item(label, text, DAYS, scored=False, skip=NO_DRUG_DAYS)


BAM_V1 = Instrument(
    code="BAM",
    version=1,
    title="Brief Addiction Monitor (BAM)",
    citation=(
        "Cacciola JS, Alterman AI, DePhilippis D, Drapkin ML, Valadez C Jr, Fala NC, Oslin D, McKay JR. "
        "Development and initial evaluation of the Brief Addiction Monitor (BAM). "
        "J Subst Abuse Treat. 2013;44(3):256-263. Developed by the VA VISN 4 MIRECC."
    ),
    licence="A work of the US Department of Veterans Affairs (VISN 4 MIRECC): public domain.",
    licence_source="US federal government work (17 U.S.C. 105); see docs/measures.md.",
    wording_source=(
        "VA Brief Addiction Monitor, self-report form with response options ('VOLUME 6: Patient Resources', "
        "pages 4-7), as stored in github.com/jjcurtin/arc_measures BAM/BAM.pdf."
    ),
    time_frame="In the past 30 days",
    stem=(
        "The following questions ask about several areas of your life such as your health, alcohol and drug "
        "use, thinking about the last 30 days."
    ),
    items=(
        Item("1", "In the past 30 days, would you say your physical health has been?", HEALTH, safety_from=4),
        Item("2", "In the past 30 days, how many nights did you have trouble falling asleep or staying asleep?",
             DAYS, safety_from=4),
        Item(
            "3",
            "In the past 30 days, how many days have you felt depressed, anxious, angry or very upset throughout "
            "most of the day?",
            DAYS,
            safety_from=4,
        ),
        Item(
            "4",
            "In the past 30 days, how many days did you drink ANY alcohol?",
            DAYS_SKIP_TO_6,
            instruction="(This question may be filled using information from the prior drinking questions).",
        ),
        Item(
            "5",
            "In the past 30 days, how many days did you have at least 5 drinks (4 if patient is female or over 65)?",
            DAYS,
            instruction="(This question may be filled using information from the prior drinking questions).",
            skip=Skip("4", 0),
        ),
        Item(
            "6",
            "In the past 30 days, how many days did you use any illegal/street drugs or abuse any prescription "
            "medications?",
            DAYS,
            instruction="Instruction: If 0, skip to #8",
        ),
        Item(
            "7A",
            "Marijuana (cannabis, pot, weed)?",
            DAYS,
            scored=False,
            skip=NO_DRUG_DAYS,
            heading="7. In the past 30 days, how many days did you use any of the following drugs:",
        ),
        _drug(
            "7B",
            'Sedatives/Tranquilizers (e.g., benzos", Valium, Xanax, Ativan, Ambien, "barbs", Phenobarbital, '
            "downers, etc.)?",
        ),
        _drug("7C", "Cocaine/Crack?"),
        _drug(
            "7D",
            'Other Stimulants (e.g., amphetamine, methamphetamine, Dexedrine, Ritalin, Adderall, speed, '
            '"crystal meth", ice, etc.)?',
        ),
        _drug(
            "7E",
            "Opiates (e.g., Heroin, Morphine, Dilaudid, Demerol, Oxcycontin, oxcy, codeine (Tylenol 2,3,4), "
            "Percocet, Vicodin, Fentanyl, etc.)?",
        ),
        _drug("7F", "Inhalants (glues/adhesives, nail polish remover, paint thinner, etc.)?"),
        _drug(
            "7G",
            "Other drugs (steroids, non-prescription sleep/diet pills, Benadryl, Ephedra, other "
            "over-the-counter/unknown medications)?",
        ),
        Item("8", "In the past 30 days, how much were you bothered by cravings or urges to drink alcohol or use "
                  "drugs?", AMOUNT),
        Item("9", "How confident are you in your ability to be completely abstinent (clean) from alcohol and drugs "
                  "in the next 30 days?", AMOUNT),
        Item("10", "In the past 30 days, how many days did you attend self-help meetings like AA or NA to support "
                   "your recovery?", DAYS),
        Item(
            "11",
            "In the past 30 days, how many days were you in any situations or with any people that might put you "
            "at an increased risk for using alcohol or drugs (i.e., around risky people, places or things)?",
            DAYS,
        ),
        Item("12", "Does your religion or spirituality help support your recovery?", AMOUNT),
        Item("13", "In the past 30 days, how many days did you spend much of the time at work, school, or doing "
                   "volunteer work?", DAYS),
        Item(
            "14",
            "Do you have enough income (from legal sources) to pay for necessities such as housing, "
            "transportation, food and clothing for yourself and your dependents?",
            NO_YES,
        ),
        Item(
            "15",
            "In the past 30 days, how much have you been bothered by arguments or problems getting along with any "
            "family members or friends?",
            AMOUNT,
        ),
        Item(
            "16",
            "In the past 30 days, how many days were you in contact or spend time with any family members or "
            "friends who are supportive of your recovery?",
            DAYS,
        ),
        Item("17", "How satisfied are you with your progress toward achieving your recovery goals?", AMOUNT,
             scored=False),
    ),
    scoring=Scoring(
        subscales=(
            Subscale("use", ("4", "5", "6")),
            Subscale("risk", ("1", "2", "3", "8", "11", "15")),
            Subscale("protective", ("9", "10", "12", "13", "14", "16")),
        ),
        source=(
            "VA VISN 4 MIRECC BAM scoring: Use = items 4+5+6; Risk = 1+2+3+8+11+15; Protective = "
            "9+10+12+13+14+16; 7A-7G and 17 not scored."
        ),
    ),
    verified=True,
)
